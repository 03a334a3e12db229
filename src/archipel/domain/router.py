"""Routing tables of one domain, computed once by ``Domain.init()``.

- commands: command class -> (handler class, method)
- events: stream category -> type string -> routes (event handlers,
  projectors, process managers), plus ``$any`` routes
- subscribers: broker stream -> subscriber classes
- queries: query class -> (handler class, method)
- messages: type string -> class (to rebuild stored or brokered messages)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archipel.core.handler import ANY, handler_specs
from archipel.errors import ConfigurationError
from archipel.handling.dispatch import Route
from archipel.utils.access_log import install_access_log

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["ALL_STREAMS", "Router"]

#: Protean's stream category of a handler that receives every event of its domain
ALL_STREAMS = "$all"

_EMPTY: tuple[Route, ...] = ()


class Router:
    """The domain's routing tables (see module docstring)."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.commands: dict[type, tuple[type, Callable[..., Any]]] = {}
        self.events: dict[str, dict[str, list[Route]]] = {}
        #: projectors with ``inline=True``, run inside the writing unit of work
        self.inline_events: dict[str, dict[str, list[Route]]] = {}
        self.subscribers: dict[str, list[type]] = {}
        self.queries: dict[type, tuple[type, Callable[..., Any]]] = {}
        self.messages: dict[str, type] = {}
        self.routes: list[Route] = []
        self._cache: dict[tuple[str, str], tuple[Route, ...]] = {}
        self._inline_cache: dict[tuple[str, str], tuple[Route, ...]] = {}

    # -- lookups (hot path) ----------------------------------------------
    def routes_for(self, category: str, type_string: str) -> tuple[Route, ...]:
        key = (category, type_string)
        found = self._cache.get(key)
        if found is None:
            by_type = self.events.get(category)
            if by_type is None:
                found = _EMPTY
            else:
                found = tuple(by_type.get(type_string, ())) + tuple(by_type.get(ANY, ()))
            self._cache[key] = found
        return found

    def inline_routes_for(self, category: str, type_string: str) -> tuple[Route, ...]:
        key = (category, type_string)
        found = self._inline_cache.get(key)
        if found is None:
            by_type = self.inline_events.get(category)
            if by_type is None:
                found = _EMPTY
            else:
                found = tuple(by_type.get(type_string, ())) + tuple(by_type.get(ANY, ()))
            self._inline_cache[key] = found
        return found

    # -- building ---------------------------------------------------------
    def type_of(self, cls: Any, owner: type) -> str:
        """The type string ``cls`` has *in this domain* (own or registered external)."""
        if isinstance(cls, str):
            return cls
        external = self.domain.registry.external_events.get(cls)
        if external is not None:
            return external
        meta = getattr(cls, "_meta", None)
        type_string = getattr(meta, "type_string", None)
        if type_string:
            return type_string  # type: ignore[no-any-return]
        raise ConfigurationError(
            f"{owner.__name__} handles {getattr(cls, '__name__', cls)}, which domain "
            f"{self.domain.name!r} does not know: register it with "
            f"@{self.domain.snake_name}.event(part_of=...) / .command(part_of=...), or with "
            f"{self.domain.snake_name}.register_external_event(cls, '<Domain>.<Name>.v1')"
        )

    def build(self) -> None:
        domain = self.domain
        registry = domain.registry
        for kind in ("event", "command"):
            for cls in registry.of_kind(kind).values():
                if cls._meta.type_string:
                    self.messages[cls._meta.type_string] = cls
        for cls, type_string in registry.external_events.items():
            self.messages.setdefault(type_string, cls)

        for handler_cls in registry.of_kind("command_handler").values():
            self._build_command_handler(handler_cls)
        for handler_cls in registry.of_kind("event_handler").values():
            categories = self._event_handler_categories(handler_cls)
            self._add_event_routes("event_handler", handler_cls, categories)
        for projector_cls in registry.of_kind("projector").values():
            self._add_event_routes("projector", projector_cls, self._projector_categories(projector_cls))
        for pm_cls in registry.of_kind("process_manager").values():
            self._add_event_routes("process_manager", pm_cls, self._pm_categories(pm_cls))
        for sub_cls in registry.of_kind("subscriber").values():
            stream = sub_cls._meta.get("stream")
            if not stream:
                raise ConfigurationError(
                    f"subscriber {sub_cls.__name__} has no stream: use "
                    f"@{domain.snake_name}.subscriber(stream=\"...\")"
                )
            self.subscribers.setdefault(stream, []).append(sub_cls)
        for handler_cls in registry.of_kind("query_handler").values():
            for spec in handler_specs(handler_cls):
                self.queries[spec.target] = (handler_cls, getattr(handler_cls, spec.method_name))
        self._cache.clear()
        self._inline_cache.clear()
        install_access_log(self)  # Protean's wide access events, while archipel.access logs INFO

    def _build_command_handler(self, handler_cls: type) -> None:
        part_of = handler_cls._meta.part_of  # type: ignore[attr-defined]
        if part_of is None:
            raise ConfigurationError(
                f"command handler {handler_cls.__name__} has no part_of: use "
                f"@{self.domain.snake_name}.command_handler(part_of=Aggregate)"
            )
        for spec in handler_specs(handler_cls):
            command_cls = spec.target
            if isinstance(command_cls, str):
                command_cls = self.messages.get(command_cls, command_cls)
            if isinstance(command_cls, str) or getattr(command_cls, "_meta", None) is None:
                raise ConfigurationError(
                    f"{handler_cls.__name__}.{spec.method_name} handles {command_cls!r}: "
                    "command handlers take command classes"
                )
            meta = command_cls._meta
            if meta.kind != "command" or meta.domain is not self.domain:
                raise ConfigurationError(
                    f"{handler_cls.__name__} handles {command_cls.__name__}, which is not a command "
                    f"of domain {self.domain.name!r}: register it with "
                    f"@{self.domain.snake_name}.command(part_of=...)"
                )
            existing = self.commands.get(command_cls)
            if existing is not None and existing[0] is not handler_cls:
                raise ConfigurationError(
                    f"{command_cls.__name__} is handled by both {existing[0].__name__} and "
                    f"{handler_cls.__name__}: a command has exactly one handler"
                )
            self.commands[command_cls] = (handler_cls, getattr(handler_cls, spec.method_name))

    def _category_of(self, aggregate: Any, owner: type) -> str:
        if isinstance(aggregate, str):
            aggregate = self.domain.registry.resolve(aggregate)
        category = getattr(getattr(aggregate, "_meta", None), "stream_category", None)
        if not category:
            raise ConfigurationError(
                f"{owner.__name__} refers to {getattr(aggregate, '__name__', aggregate)!r}, "
                "which is not a registered aggregate"
            )
        return category  # type: ignore[no-any-return]

    def _event_handler_categories(self, cls: type) -> list[str]:
        meta = cls._meta  # type: ignore[attr-defined]
        explicit = meta.get("stream_category")
        if explicit == ALL_STREAMS:
            return self._every_event_category()
        if explicit:
            return [explicit]
        if meta.get("aggregates"):
            return [self._category_of(a, cls) for a in meta.get("aggregates")]
        if meta.part_of is None:
            raise ConfigurationError(
                f"event handler {cls.__name__} needs part_of=Aggregate or stream_category=\"...\""
            )
        return [self._category_of(meta.part_of, cls)]

    def _every_event_category(self) -> list[str]:
        """``stream_category="$all"`` (Protean's): every category this domain's events are
        written to — its aggregates' and any event's own ``stream_category``."""
        registry = self.domain.registry
        categories: list[str] = []
        for kind in ("aggregate", "event"):
            for element in registry.of_kind(kind).values():
                category = element._meta.stream_category
                if category and category not in categories:
                    categories.append(category)
        return categories

    def _projector_categories(self, cls: type) -> list[str]:
        meta = cls._meta  # type: ignore[attr-defined]
        target = meta.get("projector_for")
        if target is None:
            raise ConfigurationError(
                f"projector {cls.__name__} needs projector_for=Projection"
            )
        if isinstance(target, str):
            target = self.domain.registry.resolve(target)
            meta.extra["projector_for"] = target
        if getattr(getattr(target, "_meta", None), "kind", None) != "projection":
            raise ConfigurationError(
                f"projector {cls.__name__}: projector_for={getattr(target, '__name__', target)} "
                f"is not a projection registered with @{self.domain.snake_name}.projection"
            )
        categories = list(meta.get("stream_categories") or [])
        categories += [self._category_of(a, cls) for a in meta.get("aggregates") or []]
        if not categories:
            raise ConfigurationError(
                f"projector {cls.__name__} needs aggregates=[...] or stream_categories=[...]"
            )
        return categories

    def _pm_categories(self, cls: type) -> list[str]:
        meta = cls._meta  # type: ignore[attr-defined]
        categories = list(meta.get("stream_categories") or [])
        if meta.get("stream_category"):
            categories.append(meta.get("stream_category"))
        categories += [self._category_of(a, cls) for a in meta.get("aggregates") or []]
        if not categories:
            raise ConfigurationError(
                f"process manager {cls.__name__} needs stream_categories=[...] or aggregates=[...]"
            )
        specs = handler_specs(cls)
        if specs and not any(spec.start for spec in specs):
            raise ConfigurationError(
                f"process manager {cls.__name__} has no handler with start=True: mark the "
                "handler of the event that begins the workflow"
            )
        for spec in specs:
            if not spec.correlate:
                raise ConfigurationError(
                    f"{cls.__name__}.{spec.method_name}: process manager handlers need "
                    "correlate=\"<event field>\""
                )
        return categories

    def _add_event_routes(self, kind: str, cls: type, categories: list[str]) -> None:
        specs = handler_specs(cls)
        # a handler class with no @handle methods yet is accepted (it handles nothing)
        inline = kind == "projector" and bool(cls._meta.get("inline"))  # type: ignore[attr-defined]
        own_prefix = f"{self.domain.snake_name}::"
        for spec in specs:
            if spec.target == ANY:
                type_string, target_cls = ANY, None
            elif isinstance(spec.target, str):
                # ``@handle("<Domain>.<Event>.v1")``: this domain's class for it, if any
                type_string, target_cls = spec.target, self.messages.get(spec.target)
            else:
                type_string = self.type_of(spec.target, cls)
                target_cls = spec.target
            for category in categories:
                route = Route(
                    kind=kind,
                    domain=self.domain,
                    handler_cls=cls,
                    method=getattr(cls, spec.method_name),
                    target_cls=target_cls,
                    spec=spec,
                    category=category,
                )
                # only this domain's own events are written in its units of work
                table = self.inline_events if inline and category.startswith(own_prefix) else self.events
                table.setdefault(category, {}).setdefault(type_string, []).append(route)
                self.routes.append(route)
