"""Test sentences about events: projections, event handlers, process managers.

Reached through :func:`archipel.testing.given` (Protean's ``protean.testing``)::

    given(Registered(user_id="u1", name="Ada")).then(Balances, user_id="u1").has(name="Ada")
    flow = given(Fulfilment, order_placed, payment_confirmed)
    assert flow.status == "awaiting_shipment" and flow.transition_count == 2

Given events are delivered to the domain's handlers as committed events would
be, breadth-first: what a handler raises or sends is handled before the sentence
returns (sync processing). An event not raised by an aggregate gets its
metadata here: id, type, time, and the stream of its aggregate (the identity
is the event's ``<aggregate>_id`` or identity field, else a new id).

:func:`drain` and :func:`process_and_wait` run the engine in test mode for
domains with async processing. Run everything inside ``with domain.domain_context():``.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

from archipel.core.message import new_message_id, utcnow
from archipel.errors import IncorrectUsageError
from archipel.handling import dispatch
from archipel.handling.decoding import message_from_stored
from archipel.handling.process_managers import correlation_value
from archipel.integrations.event_log import EventLog
from archipel.utils.globals import active_domain, dispatch_queue
from archipel.utils.naming import snake_case

__all__ = [
    "EventSequence",
    "ProcessManagerResult",
    "ProcessResult",
    "ProjectionResult",
    "drain",
    "process_and_wait",
]


def _domain(domain: Any = None) -> Any:
    found = domain if domain is not None else active_domain()
    if found is None:
        raise IncorrectUsageError("test sentences run inside `with domain.domain_context():`")
    found._ensure_initialized()
    return found


def _prepare(event: Any) -> Any:
    """Give an event built by the test the metadata an aggregate's ``raise_`` gives."""
    meta = event._metadata
    options = type(event)._meta
    if getattr(meta, "id", None) is None:
        meta.id = new_message_id()
    if getattr(meta, "type", None) is None:
        meta.type = options.type_string or f"{type(event).__name__}.v{options.version}"
    if getattr(meta, "stream", None) is None:
        aggregate = options.part_of
        if aggregate is None:
            raise IncorrectUsageError(
                f"given({type(event).__name__}(...)): the event has no aggregate (part_of) "
                "to take its stream from"
            )
        identity = None
        for name in (aggregate._id_field, f"{snake_case(aggregate.__name__)}_id"):
            if name and name in type(event)._fields:
                identity = getattr(event, name, None)
            if identity is not None:
                break
        category = aggregate._meta.stream_category or aggregate.__name__.lower()
        meta.stream = f"{category}-{identity if identity is not None else new_message_id()}"
    if getattr(meta, "time", None) is None:
        meta.time = utcnow()
    if getattr(meta, "correlation_id", None) is None:
        meta.correlation_id = meta.id
    return event


def _routes(domain: Any, event: Any, only: type | None) -> list[Any]:
    meta = event._metadata
    category = meta.stream.split("-", 1)[0]
    routes = [*domain.router.inline_routes_for(category, meta.type), *domain.router.routes_for(category, meta.type)]
    return [r for r in routes if only is None or r.handler_cls is only]


def _feed(domain: Any, events: list[Any], only: type | None = None, each: Callable[[], None] | None = None) -> None:
    """Deliver ``events`` (to the handlers of ``domain``, or only to ``only``), breadth-first.

    What the handlers raise joins the queue and reaches every handler, as in
    sync processing; ``each`` runs after each given event's delivery.
    """
    given = [_prepare(e) for e in events]
    given_ids = {id(e) for e in given}
    queue: deque[Any] = deque(given)
    token = dispatch_queue.set(queue)
    try:
        with domain.domain_context():
            while queue:
                event = queue.popleft()
                if id(event) in given_ids:
                    for route in _routes(domain, event, only):
                        domain.run_route(route, event)
                    if each is not None:
                        each()
                else:
                    dispatch.deliver(event)
    finally:
        dispatch_queue.reset(token)


class EventSequence:
    """Events a test gives; created by ``given(event, ...)``.

    :meth:`then` delivers them to the domain's projectors and event handlers
    and reads a projection; :meth:`results_in` delivers them to a process manager.
    """

    def __init__(self, events: list[Any]) -> None:
        self._events = list(events)

    def then(self, projection_cls: type, **identity: Any) -> ProjectionResult:
        """Deliver the events, then read the ``projection_cls`` record named by ``identity``
        (one keyword: its identity field, e.g. ``then(Balances, user_id="u1")``)."""
        if len(identity) != 1:
            raise IncorrectUsageError(
                f"then({getattr(projection_cls, '__name__', projection_cls)}, ...) takes one "
                "keyword naming the record, e.g. then(Balances, id='u1')"
            )
        domain = _domain()
        _feed(domain, self._events)
        value = next(iter(identity.values()))
        with domain.domain_context():
            found = domain.repository_for(projection_cls).get_or_none(value)
        return ProjectionResult(projection_cls, found)

    def results_in(self, pm_cls: type, **identity: Any) -> ProcessManagerResult:
        """Deliver the events to process manager ``pm_cls`` only; ``identity``
        (optional, one keyword) names the instance, else the first event's correlation."""
        value = next(iter(identity.values()), None) if identity else None
        return ProcessManagerResult(pm_cls, self._events, correlation_value=value)

    def __repr__(self) -> str:
        return f"EventSequence({[type(e).__name__ for e in self._events]})"


class ProjectionResult:
    """A projection record read after given events; attribute access reads it."""

    def __init__(self, projection_cls: type, projection: Any) -> None:
        self._projection_cls = projection_cls
        self._projection = projection

    @property
    def found(self) -> bool:
        return self._projection is not None

    @property
    def not_found(self) -> bool:
        return self._projection is None

    @property
    def projection(self) -> Any:
        """The record, or None."""
        return self._projection

    def has(self, **expected: Any) -> ProjectionResult:
        """``AssertionError`` naming the first attribute that differs; returns self."""
        name = self._projection_cls.__name__
        if self._projection is None:
            raise AssertionError(f"{name} projection not found")
        for attr, value in expected.items():
            if not hasattr(self._projection, attr):
                raise AssertionError(f"{name} has no attribute {attr!r}")
            actual = getattr(self._projection, attr)
            if actual != value:
                raise AssertionError(f"{name}.{attr}: expected {value!r}, got {actual!r}")
        return self

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._projection is None:
            raise AttributeError(f"{name!r}: the {self._projection_cls.__name__} projection was not found")
        return getattr(self._projection, name)

    def __repr__(self) -> str:
        return f"<ProjectionResult({self._projection_cls.__name__}) {'found' if self.found else 'not_found'}>"


class ProcessManagerResult:
    """A process manager after given events; attribute access reads the stored instance.

    ``transition_count`` counts the given events that changed the instance (each
    saved it once); ``not_started`` is True when no start handler matched.
    """

    def __init__(self, pm_cls: type, events: list[Any], *, correlation_value: Any = None) -> None:
        if getattr(pm_cls, "_element_kind", None) != "process_manager":
            raise IncorrectUsageError(f"{getattr(pm_cls, '__name__', pm_cls)} is not a process manager")
        self._pm_cls = pm_cls
        self._events = list(events)
        self._key = None if correlation_value is None else str(correlation_value)
        self._pm: Any = None
        self._transitions = 0
        if self._events:
            self._run()

    def _run(self) -> None:
        domain = _domain()
        if self._key is None:
            self._key = self._first_correlation(domain)
        repo = domain.repository_for(self._pm_cls)
        last = [-1]

        def count() -> None:
            if self._key is None:
                return
            with domain.domain_context():
                pm = repo.get_or_none(self._key)
            version = -1 if pm is None else pm.__dict__.get("_version", -1)
            if version > last[0]:
                self._transitions += 1
                last[0] = version
            self._pm = pm

        _feed(domain, self._events, only=self._pm_cls, each=count)

    def _first_correlation(self, domain: Any) -> str | None:
        first = _prepare(self._events[0])
        for route in _routes(domain, first, self._pm_cls):
            value = correlation_value(route.spec, route.convert(first))
            if value is not None:
                return str(value)
        return None

    @property
    def is_complete(self) -> bool:
        return self._pm is not None and bool(self._pm.is_complete)

    @property
    def not_started(self) -> bool:
        return self._pm is None

    @property
    def transition_count(self) -> int:
        return self._transitions

    @property
    def process_manager(self) -> Any:
        """The stored instance, or None."""
        return self._pm

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._pm is None:
            raise AttributeError(f"{name!r}: no {self._pm_cls.__name__} instance (did a start event match?)")
        return getattr(self._pm, name)

    def __repr__(self) -> str:
        state = "not_started" if self.not_started else "complete" if self.is_complete else f"transitions={self._transitions}"
        return f"<ProcessManagerResult({self._pm_cls.__name__}) {state}>"


def drain(domain: Any = None, *, until: Callable[[], bool] | None = None, max_cycles: int = 5) -> int:
    """Run test-mode engine passes (outbox, broker, handlers) until ``until()`` holds.

    Without ``until``: one pass. Returns the passes run; when ``until`` never
    held, warns (``UserWarning``) and returns ``max_cycles``.
    """
    if max_cycles < 1:
        raise IncorrectUsageError("drain(max_cycles=...) must be at least 1")
    domain = _domain(domain)
    from archipel.server.engine import Engine

    for cycle in range(max_cycles):
        Engine(domain, test_mode=True).run()
        if until is None or until():
            return cycle + 1
    warnings.warn(
        f"drain() ran max_cycles={max_cycles} engine passes and `until` still does not hold",
        UserWarning,
        stacklevel=2,
    )
    return max_cycles


class ProcessResult:
    """What :func:`process_and_wait` saw: ``result``, ``events`` (of the command's
    correlation), ``error`` (raised when submitting or handling synchronously)."""

    def __init__(self, result: Any, events: list[Any], error: Exception | None) -> None:
        self._result = result
        self._events = EventLog(events)
        self._error = error

    @property
    def result(self) -> Any:
        return self._result

    @property
    def events(self) -> EventLog:
        """An :class:`~archipel.testing.EventLog` of the events the command led to."""
        return self._events

    @property
    def error(self) -> Exception | None:
        return self._error

    @property
    def succeeded(self) -> bool:
        return self._error is None

    @property
    def failed(self) -> bool:
        return self._error is not None

    def __repr__(self) -> str:
        return f"<ProcessResult {'failed' if self.failed else 'succeeded'} events={len(self._events)}>"


def process_and_wait(
    command: Any, domain: Any = None, *, until: Callable[[], bool] | None = None, max_cycles: int = 5
) -> ProcessResult:
    """Process ``command``; with async processing, :func:`drain` until its effects settle.

    The same test body then works with sync and async processing.
    """
    domain = _domain(domain)
    correlation_id = new_message_id()
    result: Any = None
    error: Exception | None = None
    try:
        result = domain.process(command, correlation_id=correlation_id)
    except Exception as exc:  # noqa: BLE001 - the outcome carries it for the test to assert
        error = exc
    asynchronous = "async" in (domain.config.get("command_processing"), domain.config.get("event_processing"))
    if error is None and asynchronous:
        drain(domain, until=until, max_cycles=max_cycles)
    stored = domain.providers.event_store.read_correlated(correlation_id)
    events = [m for m in (message_from_stored(domain, s) for s in stored) if m is not None]
    return ProcessResult(result, [e for e in events if e._metadata.kind == "EVENT"], error)
