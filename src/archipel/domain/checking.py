"""``Domain.check()`` (Protean's): validate a domain without building its adapters.

It runs what ``init()`` checks (configuration, the model's references and
names, handler wiring, upcaster chains) but connects to nothing, and reports
instead of raising: the first error ``init()`` would raise (archipel stops at
the first one), or, when there is none, the warnings of a few completeness
rules (Protean's codes):

- ``UNUSED_COMMAND``: a command no command handler handles;
- ``UNHANDLED_EVENT``: an event no event handler, projector or process manager
  handles (published events, fact events and external events are left out);
- ``PROJECTION_WITHOUT_PROJECTOR``: a projection no projector fills.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from archipel.adapters import registry as provider_registry
from archipel.core.handler import ANY
from archipel.domain.config import validate_config
from archipel.domain.discovery import import_domain_modules
from archipel.domain.router import Router
from archipel.domain.state import DomainState
from archipel.domain.wiring import prepare_model
from archipel.handling.decoding import build_upcasters

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["Checking"]

_HANDLER_COMPLETENESS = "handler_completeness"


def _diagnostic(code: str, element: type, message: str, fix: str) -> dict[str, Any]:
    return {
        "code": code,
        "category": _HANDLER_COMPLETENESS,
        "element": f"{element.__module__}.{element.__qualname__}",
        "level": "warning",
        "message": message,
        "suggestion": fix,
    }


def _status(errors: list[Any], diagnostics: list[dict[str, Any]]) -> str:
    if errors:
        return "fail"
    levels = {d["level"] for d in diagnostics}
    return "warn" if "warning" in levels else "info" if "info" in levels else "pass"


class Checking(DomainState):
    """Mixin of ``Domain``: :meth:`check`."""

    def check(self, traverse: bool = True) -> dict[str, Any]:
        """Validate the domain and report, without initialising it or its adapters.

        Returns ``{"domain", "status", "errors", "diagnostics", "counts"}``:
        ``status`` is ``"fail"`` (an error), ``"warn"`` (warnings), ``"info"``
        or ``"pass"``; each error has ``code`` (the exception class),
        ``element`` (the step: ``discovery``, ``config``, ``model``,
        ``routing``, ``upcasters``) and ``message``; each diagnostic has ``code``,
        ``category``, ``element`` (the class's qualified name), ``level``,
        ``message`` and ``suggestion``; ``counts`` tallies ``errors``,
        ``warnings`` and ``infos``. With ``traverse=True`` the domain's
        modules are imported first, as ``init()`` does.
        """
        domain = cast("Domain", self)  # a Checking is always part of a Domain
        errors: list[dict[str, Any]] = []
        diagnostics: list[dict[str, Any]] = []
        built: dict[str, Router] = {}

        def validate() -> None:
            validate_config(
                self.config,
                database_providers=provider_registry.providers("database"),
                broker_providers=provider_registry.providers("broker"),
                event_store_providers=provider_registry.providers("event_store"),
                cache_providers=provider_registry.providers("cache"),
            )

        def discover() -> None:
            if traverse:
                import_domain_modules(self._module_name, self._module_file)

        with self._init_lock:  # not while another thread runs init()
            for element, step in (
                ("discovery", discover),
                ("config", validate),
                ("model", lambda: prepare_model(domain)),
                ("routing", lambda: built.setdefault("router", _build_router(domain))),
                ("upcasters", lambda: self._check_upcasters(domain, built["router"])),
            ):
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - reported, not raised: check()'s contract
                    errors.append({"code": type(exc).__name__, "element": element, "message": str(exc)})
                    break
        router = built.get("router")
        if not errors and router is not None:
            diagnostics = self._completeness(router)
        warnings = sum(1 for d in diagnostics if d["level"] == "warning")
        return {
            "domain": self.name,
            "status": _status(errors, diagnostics),
            "errors": errors,
            "diagnostics": diagnostics,
            "counts": {"errors": len(errors), "warnings": warnings, "infos": len(diagnostics) - warnings},
        }

    def _check_upcasters(self, domain: Domain, router: Router) -> None:
        """Check the upcaster chains against ``router`` (they read the domain's routing tables)."""
        if self._initialized:
            build_upcasters(domain)  # an initialised domain's router is already complete
            return
        previous = self.router
        self.router = router  # nothing routes through an uninitialised domain meanwhile
        try:
            build_upcasters(domain)
        finally:
            self.router = previous

    def _completeness(self, router: Router) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        registry = self.registry
        for command in registry.of_kind("command").values():
            if command not in router.commands:
                found.append(_diagnostic(
                    "UNUSED_COMMAND", command, f"command {command.__name__} has no command handler",
                    f"handle it in a @{self.snake_name}.command_handler with @handle({command.__name__}), "
                    "or remove it",
                ))
        targets = {route.target_cls for route in router.routes}
        catch_all = {route.category for route in router.routes if route.spec.target == ANY}
        fact_events = {
            cls._meta.extra.get("fact_event_cls") for cls in registry.of_kind("aggregate").values()
        }
        for event in registry.of_kind("event").values():
            meta = event._meta
            if event in targets or meta.published or event in fact_events or event in registry.external_events:
                continue
            part_of = meta.part_of
            category = getattr(getattr(part_of, "_meta", None), "stream_category", None)
            if category is not None and category in catch_all:
                continue
            found.append(_diagnostic(
                "UNHANDLED_EVENT", event, f"event {event.__name__} has no handler",
                "handle it in an event handler, projector or process manager, "
                "or mark it published=True if other domains consume it",
            ))
        filled = {
            route.handler_cls._meta.extra.get("projector_for")  # type: ignore[attr-defined]
            for route in router.routes
            if route.kind == "projector"
        }
        for projection in registry.of_kind("projection").values():
            if projection not in filled:
                found.append(_diagnostic(
                    "PROJECTION_WITHOUT_PROJECTOR", projection,
                    f"projection {projection.__name__} has no projector: it stays empty",
                    f"add a @{self.snake_name}.projector(projector_for={projection.__name__}) handling its events",
                ))
        return found


def _build_router(domain: Domain) -> Router:
    router = Router(domain)
    router.build()
    return router
