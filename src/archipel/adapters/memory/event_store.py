"""In-memory event store: append-only lists indexed by stream, category and id.

Messages are kept as the immutable framework objects they are (no copies);
reads return the storage form ``{"metadata": ..., "data": ...}``. Appends
that arrive with a memory transaction commit atomically with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archipel.adapters.memory._copy import STORE_LOCK
from archipel.errors import ExpectedVersionError
from archipel.ports.event_store import StoredMessage

__all__ = ["MemoryEventStore", "category_of"]


def category_of(stream: str) -> str:
    """``"shop::order-42"`` -> ``"shop::order"``; command streams keep ``:command``."""
    return stream.split("-", 1)[0]


class MemoryEventStore:
    """``provider = "memory"`` for ``[event_store]``."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self._log: list[Any] = []
        self._streams: dict[str, list[int]] = {}
        self._categories: dict[str, list[int]] = {}
        self._ids: set[str] = set()
        self._correlations: dict[str, list[int]] = {}

    # -- writing --------------------------------------------------------
    def append(self, messages: Sequence[Any], transaction: Any = None) -> int:
        enlist = getattr(transaction, "enlist", None)
        if enlist is not None:
            state: dict[str, list[Any]] = {}
            enlist(lambda: state.__setitem__("new", self._check(messages)), lambda: self._apply(state["new"]))
            return len(messages)
        with STORE_LOCK:
            fresh = self._check(messages)
            self._apply(fresh)
        return len(fresh)

    def _check(self, messages: Sequence[Any]) -> list[Any]:
        fresh = []
        next_positions: dict[str, int] = {}
        for message in messages:
            meta = message._metadata
            if meta.id in self._ids:
                continue
            stream = meta.stream
            expected = next_positions.get(stream)
            if expected is None:
                expected = len(self._streams.get(stream, ()))
            if meta.position is not None and meta.position != expected:
                raise ExpectedVersionError(
                    f"stream {stream!r} is at position {expected - 1}, cannot append "
                    f"position {meta.position}: another writer got there first; reload and retry",
                    stream=stream,
                    expected=meta.position,
                    actual=expected - 1,
                )
            next_positions[stream] = expected + 1
            fresh.append(message)
        return fresh

    def _apply(self, messages: list[Any]) -> None:
        log = self._log
        for message in messages:
            meta = message._metadata
            index = len(log)
            stream = meta.stream
            positions = self._streams.get(stream)
            if positions is None:
                positions = self._streams[stream] = []
            if meta.position is None:
                meta.position = len(positions)
            meta.global_position = index + 1
            positions.append(index)
            self._categories.setdefault(category_of(stream), []).append(index)
            if meta.correlation_id:
                self._correlations.setdefault(meta.correlation_id, []).append(index)
            self._ids.add(meta.id)
            log.append(message)

    # -- reading --------------------------------------------------------
    def _stored(self, index: int) -> StoredMessage:
        message = self._log[index]
        return {"metadata": message._metadata.to_dict(), "data": message.to_dict()}

    def read_stream(
        self, stream: str, from_position: int = 0, to_position: int | None = None
    ) -> list[StoredMessage]:
        indexes = self._streams.get(stream, [])
        end = None if to_position is None else to_position + 1
        return [self._stored(i) for i in indexes[from_position:end]]

    def read_category(self, category: str, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]:
        indexes = self._categories.get(category, [])
        return [self._stored(i) for i in indexes if i + 1 > after_global][:limit]

    def read_all(self, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]:
        return [self._stored(i) for i in range(after_global, min(len(self._log), after_global + limit))]

    def read_correlated(self, correlation_id: str) -> list[StoredMessage]:
        return [self._stored(i) for i in self._correlations.get(correlation_id, [])]

    def last_position(self, stream: str) -> int:
        return len(self._streams.get(stream, ())) - 1

    def count(self) -> int:
        return len(self._log)

    def truncate(self) -> None:
        with STORE_LOCK:
            self._log.clear()
            self._streams.clear()
            self._categories.clear()
            self._ids.clear()
            self._correlations.clear()

    def close(self) -> None:
        """Nothing to release."""
