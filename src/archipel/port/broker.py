"""The broker port: named streams of dict payloads read by consumer groups.

The contract (one conformance suite, ``tests/brokers/``, proves every adapter):

- ``publish``/``publish_many`` append payloads (JSON-like dicts) to streams and
  return their entry ids; ids increase within a stream. ``publish_many`` keeps
  the given order within each stream and is one round trip where possible.
  One that raises has added, of each stream, at most a prefix of the batch's
  entries for it (all or nothing is fine): never an entry without those
  before it, which publishing the batch again (the relay does) would put
  after it.
- A *consumer group* reads every entry of a stream once (``read``); each entry
  it reads stays *pending* — owned by the consumer that read it — until it is
  acknowledged (``ack``). A group created by ``ensure_group`` (or implicitly by
  the first ``read``) starts at the beginning of the stream, so nothing
  published before the group existed is missed.
- ``claim_stale`` hands pending entries idle for at least ``min_idle_ms`` to
  another consumer (a dead consumer's work is taken over), oldest first.
- ``delivery_counts`` (optional: the engine falls back to "delivered once"
  without it) tells how many times each pending entry has been delivered:
  1 after ``read``, one more per ``claim_stale``. A message whose worker
  keeps dying is recognised by it (:mod:`archipel.engine.consumer`).
- ``own_pending`` lists what is pending for one consumer, without counting a
  delivery: a consumer whose ``read`` failed midway (the connection dropped)
  cannot know whether the broker delivered entries to it, and recovers them
  with it before reading on.
- ``trim`` removes only entries that *every* group has read and acknowledged;
  it never drops a pending or unread entry. A stream without groups is not
  trimmed.
- Errors of the underlying system surface as
  :class:`archipel.errors.BrokerUnavailable` (cannot reach it: retry later)
  or :class:`archipel.errors.BrokerError` (anything else).

``shared_between_processes`` (optional attribute, true when missing) says
whether another process using the same configuration reaches the same
streams: false for the in-process inline broker (and the database broker on
an in-memory SQLite database). Operator commands that publish for the
server's consumers (``archipel dlq replay``) refuse when it is false.

``on_publish`` is for synchronous processing only: the broker calls the
callback with every published payload, in the publishing thread.

The port is split by role, each a small protocol its user depends on:
:class:`Publisher` (the outbox relay, sync processing), :class:`GroupReader`
(the engine's consumers) and :class:`BrokerAdmin` (status, CLI, tests). A
broker adapter implements all three; :class:`Broker` (Protean's name:
:data:`BaseBroker`) is their union, for code that holds a whole broker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from archipel.port.registry import NamedRegistry

__all__ = [
    "BaseBroker",
    "Broker",
    "BrokerAdmin",
    "BrokerRegistry",
    "Delivery",
    "Entry",
    "GroupReader",
    "PublishCallback",
    "Publisher",
    "registry",
]

PublishCallback = Callable[[str, dict[str, Any]], None]


class Entry(NamedTuple):
    """One stream entry as read by a consumer."""

    stream: str
    id: str
    payload: dict[str, Any]


#: former name of :class:`Entry`
Delivery = Entry


@runtime_checkable
class Publisher(Protocol):
    """Appends payloads to streams (the outbox relay; sync processing)."""

    name: str

    def publish(self, stream: str, payload: dict[str, Any]) -> str:
        """Append ``payload`` to ``stream``; return the new entry id."""
        ...

    def publish_many(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Append ``(stream, payload)`` pairs in order (pipelined); return their ids."""
        ...

    def on_publish(self, callback: PublishCallback | None) -> None:
        """Call ``callback(stream, payload)`` on every publish (sync processing)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class GroupReader(Protocol):
    """Reads streams as a consumer group: pending entries, acks, takeover."""

    name: str

    def ensure_group(self, stream: str, group: str) -> None:
        """Create ``group`` on ``stream`` (and the stream) unless it exists; idempotent."""
        ...

    def read(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        count: int = 100,
        block_ms: int = 0,
    ) -> list[Entry]:
        """Entries of ``streams`` never delivered to ``group``, at most ``count`` per stream.

        They become pending for ``consumer``. With ``block_ms > 0`` waits up to
        that long when nothing is available; returns ``[]`` on timeout.
        Entries come in id order within each stream.
        """
        ...

    def ack(self, group: str, ids_by_stream: Mapping[str, Sequence[str]]) -> int:
        """Acknowledge entries (no longer pending); return how many were pending."""
        ...

    def claim_stale(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 1000
    ) -> list[Entry]:
        """Take over entries of ``stream`` pending in ``group`` idle ≥ ``min_idle_ms``.

        They become pending for ``consumer``; returned oldest first.
        """
        ...

    def delivery_counts(self, stream: str, group: str, ids: Sequence[str]) -> dict[str, int]:
        """How many times each of ``ids`` pending in ``group`` was delivered (read or claimed).

        Optional (``getattr`` it): ids not pending are left out.
        """
        ...

    def own_pending(
        self, group: str, consumer: str, streams: Sequence[str], count: int = 1000
    ) -> list[Entry]:
        """Entries of ``streams`` pending in ``group`` for ``consumer``, in id order per stream.

        At most ``count`` per stream; their delivery counts do not change.
        After a ``read`` that raised, the consumer calls it to take back
        entries delivered to it whose reply it never received.
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class BrokerAdmin(Protocol):
    """Inspects and maintains streams: backlog, trimming, truncation."""

    name: str

    def pending(self, stream: str, group: str) -> int:
        """How many entries of ``stream`` are pending (read, not acked) in ``group``."""
        ...

    def lag(self, stream: str, group: str) -> int | None:
        """How many entries of ``stream`` ``group`` has not read yet (None: unknown)."""
        ...

    def trim(self, stream: str, retain: int = 0) -> int:
        """Drop entries every group has acknowledged, keeping the newest ``retain``.

        Returns how many entries were removed; never removes a pending or unread one.
        """
        ...

    def streams(self) -> list[str]:
        """Names of the streams that exist."""
        ...

    def truncate(self) -> None:
        """Delete every stream (tests, ``archipel database truncate``)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Broker(Publisher, GroupReader, BrokerAdmin, Protocol):
    """A whole broker: every role. Adapters implement this; users depend on one role."""


#: Protean's name for the broker port
BaseBroker = Broker


class BrokerRegistry(NamedRegistry):
    """The brokers by provider name (Protean's ``BrokerRegistry``; see
    :class:`~archipel.port.registry.NamedRegistry`). A registered class is built as
    ``cls(name, settings)`` and implements :class:`Broker`."""

    kind = "broker"


#: Protean's ``protean.port.broker.registry``: ``registry.register("kafka", "my_package.KafkaBroker")``
registry = BrokerRegistry()
