"""What handling/ needs of a domain, as a small Protocol.

The unit of work, repositories, dispatch and the process-manager runner are
driven by :class:`archipel.domain.Domain`, which sits one layer up. They
name this protocol instead of the class, so handling/ never imports domain/
(not even for type hints) and the contract between the two is written down.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from archipel.port.schema import ModelSchema

__all__ = ["DomainLike"]


class DomainLike(Protocol):
    """The parts of a domain the handling layer uses."""

    name: str
    #: adapters by role: ``databases``, ``event_store``, ``broker(name)``
    providers: Any
    #: routing tables built by ``init()``: commands, messages, handler routes
    router: Any
    #: the registered elements by kind
    registry: Any
    #: stored class -> (schema, kind, fact event class or None)
    _persist_plan: dict[type, tuple[ModelSchema, str, Any]]
    #: the classes a one-object commit saves (``handling.single_commit``: an aggregate without
    #: a fact event, or a projection) -> (schema, is it an aggregate, in the default database)
    _single_plan: dict[type, tuple[ModelSchema, bool, bool, bool]]
    _outbox_enabled: bool
    _inline_events: bool
    _integration_broker: str | None
    #: the ``default`` database's table of command idempotency keys
    _idempotency_schema: ModelSchema
    #: seconds a command idempotency key is kept (``[idempotency] ttl``)
    _idempotency_ttl: float
    #: ``fn(aggregate)`` run on each aggregate just before it is saved (audit fields)
    aggregate_enrichers: list[Callable[[Any], Any]]
    #: ``shop`` for ``Shop``; ``Shop`` in type strings
    snake_name: str
    type_prefix: str
    #: the loaded configuration (``snapshot_threshold``, ...)
    config: Any
    #: upcaster chains checked by ``init()`` (:class:`archipel.handling.decoding.Upcasting`)
    _upcasting: Any

    @property
    def outbox_enabled(self) -> bool: ...

    @property
    def process(self) -> Callable[..., Any]:
        """``domain.process(command, ...)`` (compensating commands of process managers)."""
        ...

    @property
    def handles_events_inline(self) -> bool: ...

    def schema_for(self, cls: type) -> ModelSchema: ...

    def repository_for(self, cls: type) -> Any: ...

    def outbox_records(self, messages: list[Any]) -> list[dict[str, Any]]: ...

    def integration_records(self, messages: list[Any]) -> list[dict[str, Any]]: ...

    def run_in_unit_of_work(self, action: Callable[[Any], Any], message: Any = None) -> Any: ...

    def run_route(self, route: Any, event: Any) -> None: ...

    def _run_route_once(self, route: Any, event: Any) -> None: ...

    def _run_routes(self, routes: Any, event: Any, failures: list[Exception] | None) -> None: ...

    def domain_context(self) -> AbstractContextManager[Any]: ...


