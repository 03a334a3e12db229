"""The event store port: an append-only log of messages, by stream and globally."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["BaseEventStore", "CausationNode", "EventStore", "LatestReader", "StoredMessage"]

#: ``{"metadata": {...}, "data": {...}}`` with ``metadata.global_position`` set
StoredMessage = dict[str, Any]


class EventStore(Protocol):
    """Append-only, idempotent by message id, per-stream positions unique.

    ``append`` takes framework messages (events or commands with metadata)
    and, when ``transaction`` is a transaction of the same backend, writes
    in it (so state and events commit together). It returns how many
    messages were newly stored (a resent batch stores none).
    """

    def append(self, messages: Sequence[Any], transaction: Any = None) -> int: ...

    def read_stream(
        self, stream: str, from_position: int = 0, to_position: int | None = None
    ) -> list[StoredMessage]: ...

    def read_category(
        self, category: str, after_global: int = 0, limit: int = 1000
    ) -> list[StoredMessage]: ...

    def read_all(self, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]: ...

    def read_correlated(self, correlation_id: str) -> list[StoredMessage]: ...

    def last_position(self, stream: str) -> int: ...

    def truncate(self) -> None: ...

    def close(self) -> None: ...


#: Protean's name for the event store port
BaseEventStore = EventStore


@dataclass
class CausationNode:
    """One message of a correlation chain and the messages it caused
    (``domain.correlation_trace``). ``kind`` is ``"COMMAND"`` or ``"EVENT"``;
    ``time`` is ISO 8601 text. ``handler``, ``duration_ms`` and ``delta_ms``
    are Protean's timing fields; archipel's event store does not record them (None)."""

    message_id: str
    message_type: str
    kind: str
    stream: str
    time: str | None
    global_position: int | None
    children: list[CausationNode] = field(default_factory=list)
    handler: str | None = None
    duration_ms: float | None = None
    delta_ms: float | None = None


class LatestReader(Protocol):
    """Reads the latest message of a stream in one step (snapshots live in such streams).

    Every bundled event store implements it; a third-party store without it
    still works, its snapshots read through :meth:`EventStore.read_stream`.
    """

    def read_last(self, stream: str) -> StoredMessage | None: ...
