"""The element decorators of ``Domain`` (``@domain.aggregate``, ...).

Each works bare (``@domain.aggregate``) or with options
(``@domain.aggregate(fact_events=True)``), on a subclass of the kind's base
class or on a plain class, and returns the registered class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

from archipel.errors import UnsupportedElementClass
from archipel.fields.base import Field

__all__ = ["ElementDecorators"]

T = TypeVar("T", bound=type)


class ElementDecorators:
    """Mixin: one decorator per element kind, all delegating to ``register``."""

    def register(self, element_cls: Any, kind: str | None = None, **options: Any) -> Any:
        raise NotImplementedError  # implemented by Domain

    def _decorate(self, kind: str, cls: Any, options: dict[str, Any]) -> Any:
        if cls is not None:
            return self.register(cls, kind, **options)

        def decorator(target: Any) -> Any:
            return self.register(target, kind, **options)

        return decorator

    @overload
    def aggregate(self, cls: T) -> T: ...
    @overload
    def aggregate(self, cls: None = None, **options: Any) -> Callable[[T], T]: ...
    @dataclass_transform(field_specifiers=(Field,))
    def aggregate(self, cls: Any = None, **options: Any) -> Any:
        """Register an aggregate (options: fact_events, is_event_sourced, stream_category, database)."""
        return self._decorate("aggregate", cls, options)

    @dataclass_transform(field_specifiers=(Field,))
    def entity(self, cls: Any = None, **options: Any) -> Any:
        """Register an entity (``part_of=Aggregate`` is required)."""
        return self._decorate("entity", cls, options)

    @dataclass_transform(field_specifiers=(Field,))
    def value_object(self, cls: Any = None, **options: Any) -> Any:
        """Register a value object."""
        return self._decorate("value_object", cls, options)

    @dataclass_transform(field_specifiers=(Field,))
    def command(self, cls: Any = None, **options: Any) -> Any:
        """Register a command (``part_of=Aggregate``; ``version=N``)."""
        return self._decorate("command", cls, options)

    @dataclass_transform(field_specifiers=(Field,))
    def event(self, cls: Any = None, **options: Any) -> Any:
        """Register an event (``part_of=Aggregate``; ``published=True`` for integration events)."""
        return self._decorate("event", cls, options)

    def integration_event(self, cls: Any = None, **options: Any) -> Any:
        """Register an integration event: an event with ``published=True``."""
        options["published"] = True
        return self._decorate("event", cls, options)

    def command_handler(self, cls: Any = None, **options: Any) -> Any:
        """Register a command handler (``part_of=Aggregate``)."""
        return self._decorate("command_handler", cls, options)

    def event_handler(self, cls: Any = None, **options: Any) -> Any:
        """Register an event handler (``part_of=Aggregate`` and/or ``stream_category=``)."""
        return self._decorate("event_handler", cls, options)

    @dataclass_transform(field_specifiers=(Field,))
    def projection(self, cls: Any = None, **options: Any) -> Any:
        """Register a projection (read model)."""
        return self._decorate("projection", cls, options)

    def projector(self, cls: Any = None, **options: Any) -> Any:
        """Register a projector (``projector_for=Projection``, ``aggregates=[...]``).

        ``inline=True`` runs it inside the unit of work that raised the events:
        the read model commits with the state, in the same transaction (one
        commit instead of two; a failing projector fails the command).
        """
        return self._decorate("projector", cls, options)

    @dataclass_transform(field_specifiers=(Field,))
    def process_manager(self, cls: Any = None, **options: Any) -> Any:
        """Register a process manager (``stream_categories=[...]``)."""
        return self._decorate("process_manager", cls, options)

    def subscriber(self, cls: Any = None, **options: Any) -> Any:
        """Register a subscriber of a raw broker stream (``stream="..."``)."""
        return self._decorate("subscriber", cls, options)

    def application_service(self, cls: Any = None, **options: Any) -> Any:
        """Register an application service (``@use_case`` methods)."""
        return self._decorate("application_service", cls, options)

    def domain_service(self, cls: Any = None, **options: Any) -> Any:
        """Register a domain service (``part_of=[Aggregate, ...]``)."""
        return self._decorate("domain_service", cls, options)

    def repository(self, cls: Any = None, **options: Any) -> Any:
        """Register a custom repository (``part_of=Aggregate``)."""
        return self._decorate("repository", cls, options)

    def email(self, cls: Any = None, **options: Any) -> Any:
        """Register an email (a ``BaseEmail``; ``provider=`` names its email provider, default ``"default"``)."""
        return self._decorate("email", cls, options)

    def database_model(self, cls: Any = None, **options: Any) -> Any:
        """Register a custom database model (``part_of=``, ``schema_name=``, ``database=``)."""
        return self._decorate("database_model", cls, options)

    def event_sourced_repository(self, cls: Any = None, **options: Any) -> Any:
        """Register a custom repository of an event-sourced aggregate (``part_of=Aggregate``)."""
        return self._decorate("event_sourced_repository", cls, options)

    @dataclass_transform(field_specifiers=(Field,))
    def query(self, cls: Any = None, **options: Any) -> Any:
        """Register a query (``part_of=Projection``)."""
        return self._decorate("query", cls, options)

    def query_handler(self, cls: Any = None, **options: Any) -> Any:
        """Register a query handler (``part_of=Projection``)."""
        return self._decorate("query_handler", cls, options)

    def upcaster(self, cls: Any = None, **options: Any) -> Any:
        """Register an upcaster (``event_type=``, ``from_version=``, ``to_version=``)."""
        return self._decorate("upcaster", cls, options)


def kind_of(cls: type) -> str:
    """Infer the element kind of ``cls`` from its base class."""
    from archipel.domain.registry import BASES

    # most specific first: an aggregate is also an entity
    for kind in ("aggregate", "entity", "projection", "process_manager", "query", "value_object",
                 "command", "event", "command_handler", "event_handler", "projector",
                 "subscriber", "query_handler", "application_service", "domain_service",
                 "event_sourced_repository", "repository", "database_model", "email", "upcaster"):
        if issubclass(cls, BASES[kind]):
            return kind
    raise UnsupportedElementClass(
        f"cannot tell what kind of element {cls.__name__} is: subclass a base class "
        "(BaseAggregate, BaseEvent, ...) or pass the kind, e.g. domain.register(cls, 'aggregate')",
        code="UNSUPPORTED_ELEMENT_CLASS",
        location="Domain.register",
    )
