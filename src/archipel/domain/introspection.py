"""What handles what, and what is registered (Protean's ``handlers_for``,
``command_handler_for``, ``projectors_for``, ``make_shell_context`` and
``domain.registry.<kinds>``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DomainRecord", "Introspection", "PLURALS"]

#: ``domain.registry.<plural>`` -> element kind (Protean's registry properties)
PLURALS = {
    "aggregates": "aggregate",
    "entities": "entity",
    "value_objects": "value_object",
    "commands": "command",
    "events": "event",
    "command_handlers": "command_handler",
    "event_handlers": "event_handler",
    "projections": "projection",
    "projectors": "projector",
    "process_managers": "process_manager",
    "subscribers": "subscriber",
    "application_services": "application_service",
    "domain_services": "domain_service",
    "repositories": "repository",
    "event_sourced_repositories": "event_sourced_repository",
    "database_models": "database_model",
    "emails": "email",
    "queries": "query",
    "query_handlers": "query_handler",
    "upcasters": "upcaster",
}


@dataclass(frozen=True)
class DomainRecord:
    """One registered element, as Protean's registry lists it."""

    name: str
    qualname: str
    class_type: str
    cls: Any


def records(elements: dict[str, Any], kind: str) -> dict[str, DomainRecord]:
    """``{"module.QualName": DomainRecord}`` of the registered elements of ``kind``."""
    found = {}
    for cls in elements.get(kind, {}).values():
        qualname = f"{cls.__module__}.{cls.__qualname__}"
        found[qualname] = DomainRecord(cls.__name__, qualname, kind.upper(), cls)
    return found


class Introspection:
    """Domain mixin: which handlers receive an event, which projectors feed a projection."""

    def handlers_for(self, event: Any) -> set[type]:
        """The event handler classes that receive ``event`` (its own routes and ``$any``)."""
        router = self.router  # type: ignore[attr-defined]
        self._ensure_initialized()  # type: ignore[attr-defined]
        meta = event._metadata
        part_of = getattr(getattr(event.__class__, "_meta", None), "part_of", None)
        if isinstance(part_of, str):
            part_of = self.registry.resolve(part_of)  # type: ignore[attr-defined]
        category_name = getattr(getattr(part_of, "_meta", None), "stream_category", None)
        if not category_name:
            # an event of no aggregate: the category of the stream it was written to
            category_name = (meta.stream or "").split("-", 1)[0]
        type_string = meta.type or router.type_of(event.__class__, event.__class__)
        return {
            route.handler_cls
            for route in router.routes_for(category_name, type_string)
            if route.kind == "event_handler"
        }

    def command_handler_for(self, command: Any) -> type | None:
        """The command handler class of ``command`` (an instance or its class); None if it has none."""
        self._ensure_initialized()  # type: ignore[attr-defined]
        command_cls = command if isinstance(command, type) else type(command)
        route = self.router.commands.get(command_cls)  # type: ignore[attr-defined]
        return None if route is None else route[0]  # type: ignore[no-any-return]

    def make_shell_context(self) -> dict[str, Any]:
        """``{"domain": self, <element class name>: class, ...}``: the names a shell starts with."""
        values: dict[str, Any] = {"domain": self}
        for kind in PLURALS.values():
            for cls in self.registry.of_kind(kind).values():  # type: ignore[attr-defined]
                values[cls.__name__] = cls
        return values

    def projectors_for(self, projection_cls: type) -> set[type]:
        """The projector classes that keep ``projection_cls`` up to date."""
        self._ensure_initialized()  # type: ignore[attr-defined]
        return {
            cls
            for cls in self.registry.of_kind("projector").values()  # type: ignore[attr-defined]
            if cls._meta.get("projector_for") is projection_cls
        }

    def to_ir(self) -> dict[str, Any]:
        """Protean's IR of this domain (:mod:`archipel.ir`; JSON Schema v0.3.0). Call ``init()``
        first, as in Protean (an uninitialised domain is an error saying so)."""
        from archipel.ir.builder import IRBuilder  # noqa: PLC0415 - the IR layer sits above the domain

        self._ensure_initialized()  # type: ignore[attr-defined]
        return IRBuilder(self).build()  # type: ignore[arg-type]
