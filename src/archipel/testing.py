"""Test helpers (Protean's ``protean.testing``).

- :class:`DomainFixture` initialises a domain for tests and deletes its data
  between them (also pytest fixtures: :mod:`archipel.integrations.pytest`).
- :func:`given` starts a test sentence about an aggregate, through the real
  pipeline (command handler, repository, unit of work, event store)::

      order = given(Order, order_created).process(ConfirmOrder(order_id=oid))
      assert order.accepted
      assert OrderConfirmed in order.events
      assert order.status == "confirmed"          # the reloaded aggregate

  Given events are stored (and dispatched to the domain's sync handlers, as a
  commit would) before the first command; they need an event-sourced
  aggregate, whose ``@apply`` methods rebuild its state from them.
  Run it inside ``with domain.domain_context():``.

- ``given(event, ...)`` starts a sentence about projections and event handlers
  (``.then(Projection, id=...)``) or a process manager (``.results_in(PM)``);
  ``given(ProcessManager, *events)`` feeds a process manager directly
  (:mod:`archipel.integrations.sentences`).
- :func:`drain` / :func:`process_and_wait` run the engine in test mode, so a
  test body works with sync and async processing.

- :func:`assert_chain` compares ``domain.correlation_trace(id)`` with expected
  message types; :func:`assert_snapshot` compares an object with a JSON snapshot
  kept beside the test (:mod:`archipel.integrations.assertions`).
"""

from __future__ import annotations

from typing import Any

from archipel.errors import IncorrectUsageError, ValidationError
from archipel.handling.decoding import message_from_stored
from archipel.handling.event_sourced import replay
from archipel.integrations.assertions import assert_chain, assert_snapshot
from archipel.integrations.event_log import EventLog
from archipel.integrations.pytest import DomainFixture
from archipel.integrations.sentences import (
    EventSequence,
    ProcessManagerResult,
    ProcessResult,
    ProjectionResult,
    drain,
    process_and_wait,
)
from archipel.utils.globals import active_domain
from archipel.utils.naming import snake_case

__all__ = [
    "AggregateResult",
    "DomainFixture",
    "EventLog",
    "EventSequence",
    "ProcessManagerResult",
    "ProcessResult",
    "ProjectionResult",
    "assert_chain",
    "assert_snapshot",
    "drain",
    "given",
    "process_and_wait",
]


def _domain() -> Any:
    domain = active_domain()
    if domain is None:
        raise IncorrectUsageError("given(...).process() runs inside `with domain.domain_context():`")
    return domain


class AggregateResult:
    """An aggregate under test; attribute access reads the reloaded aggregate.

    Created by :func:`given`. After each :meth:`process`: ``events`` holds the
    events of that command, ``all_events`` those of every command,
    ``accepted``/``rejected``/``rejection`` say how the last command ended.
    """

    def __init__(self, aggregate_cls: type, given_events: list[Any]) -> None:
        self._aggregate_cls: Any = aggregate_cls
        self._given = list(given_events)
        self._aggregate: Any = None
        self._identity: Any = None
        self._seen = 0
        self._seeded = False
        self._events = EventLog([])
        self._all: list[Any] = []
        self._rejection: Exception | None = None
        self._processed = False

    def after(self, *events: Any) -> AggregateResult:
        """Add more history ("and given"); returns self."""
        if self._seeded:
            raise IncorrectUsageError("after(...) adds history: call it before process(...)")
        self._given.extend(events)
        return self

    def process(self, command: Any, *, correlation_id: str | None = None) -> AggregateResult:
        """Process ``command`` synchronously through the domain; returns self (chainable)."""
        domain = _domain()
        if self._given and not self._seeded:
            self._seed(domain)
        self._seeded = True
        self._processed = True
        self._rejection = None
        try:
            result = domain.process(command, asynchronous=False, correlation_id=correlation_id)
        except Exception as exc:  # noqa: BLE001 - the rejection is what the test asserts on
            self._rejection = exc
            self._events = EventLog([])
            self._reload(domain)
            return self
        if self._identity is None:
            self._identity = result if result is not None else self._identity_from(command)
        new = self._reload(domain)
        self._events = EventLog(new)
        self._all.extend(new)
        return self

    def _identity_from(self, command: Any) -> Any:
        cls = self._aggregate_cls
        for name in (cls._id_field, f"{snake_case(cls.__name__)}_id"):
            value = getattr(command, name, None) if name else None
            if value is not None:
                return value
        raise IncorrectUsageError(
            f"cannot tell which {cls.__name__} {type(command).__name__} created: return its "
            f"identity from the handler, or give the command a {cls._id_field!r} field"
        )

    def _stream(self) -> str:
        return f"{self._aggregate_cls._meta.stream_category}-{self._identity}"

    def _seed(self, domain: Any) -> None:
        cls = self._aggregate_cls
        if not cls._meta.get("is_event_sourced"):
            raise IncorrectUsageError(
                f"given({cls.__name__}, events...) rebuilds state from events: it needs an "
                f"event-sourced aggregate (@domain.aggregate(is_event_sourced=True)); "
                f"for {cls.__name__}, process the commands that create it instead"
            )
        probe = replay(cls, None, [])
        for event in self._given:
            applier = cls._appliers.get(type(event))
            if applier is not None:
                applier(probe, event)
        identity = getattr(probe, cls._id_field)
        if identity is None:
            raise IncorrectUsageError(
                f"the given events do not set {cls.__name__}.{cls._id_field}: the first event's "
                "@apply method must set the identity"
            )
        self._identity = identity
        aggregate = replay(cls, identity, [])
        for event in self._given:
            aggregate.raise_(event)

        def store(uow: Any) -> None:
            domain.repository_for(cls).add(aggregate)

        domain.run_in_unit_of_work(store)
        self._seen = len(self._given)

    def _reload(self, domain: Any) -> list[Any]:
        if self._identity is None:
            return []
        self._aggregate = domain.repository_for(self._aggregate_cls).get_or_none(self._identity)
        stored = domain.providers.event_store.read_stream(self._stream())
        decoded = [message_from_stored(domain, s) for s in stored[self._seen :]]
        self._seen = len(stored)
        return [e for e in decoded if e is not None]

    @property
    def events(self) -> EventLog:
        """Events raised by the last command."""
        return self._events

    @property
    def all_events(self) -> EventLog:
        """Events raised by every command processed so far."""
        return EventLog(self._all)

    @property
    def rejection(self) -> Exception | None:
        """The exception the last command raised, or None."""
        return self._rejection

    @property
    def accepted(self) -> bool:
        return self._processed and self._rejection is None

    @property
    def rejected(self) -> bool:
        return self._processed and self._rejection is not None

    @property
    def rejection_messages(self) -> list[str]:
        """The rejection's messages, flat (every field's messages of a ValidationError)."""
        if self._rejection is None:
            return []
        if isinstance(self._rejection, ValidationError):
            return [m for messages in self._rejection.messages.values() for m in messages]
        return [str(self._rejection)]

    @property
    def aggregate(self) -> Any:
        """The aggregate as stored after the last command (None before it exists)."""
        return self._aggregate

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._aggregate is None:
            raise AttributeError(f"{name!r}: no {self._aggregate_cls.__name__} yet; call .process(...) first")
        return getattr(self._aggregate, name)

    def __repr__(self) -> str:
        state = "accepted" if self.accepted else "rejected" if self.rejected else "pending"
        return f"<AggregateResult({self._aggregate_cls.__name__}) {state}>"


def given(cls_or_event: Any, *events: Any) -> Any:
    """Start a test sentence.

    - ``given(Aggregate, *events)``: an :class:`AggregateResult` (``events`` are its history);
    - ``given(ProcessManager, *events)``: a :class:`ProcessManagerResult`, the events
      delivered to that process manager;
    - ``given(event, *events)``: an :class:`EventSequence` (``.then(Projection, id=...)``,
      ``.results_in(ProcessManager)``).
    """
    if not isinstance(cls_or_event, type):
        if getattr(getattr(cls_or_event, "_metadata", None), "kind", None) != "EVENT":
            raise IncorrectUsageError(
                f"given(...) takes an aggregate or process manager class, or events; got {cls_or_event!r}"
            )
        return EventSequence([cls_or_event, *events])
    kind = getattr(cls_or_event, "_element_kind", None)
    if kind == "process_manager":
        return ProcessManagerResult(cls_or_event, list(events))
    if kind != "aggregate":
        raise IncorrectUsageError(
            f"given({cls_or_event.__name__}, ...) takes an aggregate class or a process manager class "
            "(or event instances)"
        )
    return AggregateResult(cls_or_event, list(events))
