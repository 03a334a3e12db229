"""In-memory event store: append-only lists indexed by stream, category and id.

Each message is kept as one flat tuple of its metadata values plus its data
dict (atoms only, so the garbage collector untracks them: a store of
millions of events does not slow every collection down). Reads return the
storage form ``{"metadata": ..., "data": ...}``. Appends that arrive with a
memory transaction commit atomically with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archipel.adapters.memory._copy import STORE_LOCK, clone
from archipel.errors import ExpectedVersionError
from archipel.ports.event_store import StoredMessage

__all__ = ["MemoryEventStore", "category_of"]


_Index = int | tuple[int, ...] | list[int] | None


def _push(entry: _Index, index: int) -> _Index:
    if entry is None:
        return index
    if type(entry) is int:
        return (entry, index)
    if type(entry) is tuple:
        return entry + (index,) if len(entry) < 32 else [*entry, index]
    entry.append(index)  # type: ignore[union-attr]
    return entry


def _length(entry: _Index) -> int:
    if entry is None:
        return 0
    if type(entry) is int:
        return 1
    return len(entry)  # type: ignore[arg-type]


def _as_list(entry: _Index) -> list[int]:
    if entry is None:
        return []
    if type(entry) is int:
        return [entry]
    return list(entry)  # type: ignore[arg-type]


def category_of(stream: str) -> str:
    """``"shop::order-42"`` -> ``"shop::order"``; command streams keep ``:command``."""
    return stream.split("-", 1)[0]


class MemoryEventStore:
    """``provider = "memory"`` for ``[event_store]``."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self._log: list[Any] = []
        # index entries are an int, then a tuple, then (past 32) a list: most
        # streams are short, and ints and tuples of ints cost the garbage
        # collector nothing, so millions of streams do not slow collections
        self._streams: dict[str, _Index] = {}
        self._categories: dict[str, list[int]] = {}
        self._ids: set[str] = set()
        self._correlations: dict[str, _Index] = {}

    # -- writing --------------------------------------------------------
    def append(self, messages: Sequence[Any], transaction: Any = None) -> int:
        appends = getattr(transaction, "appends", None)
        if appends is not None:
            # a memory transaction: checked and applied atomically at its commit
            appends.append((self, messages))
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
                expected = _length(self._streams.get(stream))
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
        streams = self._streams
        categories = self._categories
        for message in messages:
            meta = message._metadata
            index = len(log)
            stream = meta.stream
            positions = streams.get(stream)
            if positions is None:
                category = stream.split("-", 1)[0]
                indexes = categories.get(category)
                if indexes is None:
                    indexes = categories[category] = []
            else:
                indexes = categories[stream.split("-", 1)[0]]
            if meta.position is None:
                meta.position = _length(positions)
            meta.global_position = index + 1
            streams[stream] = _push(positions, index)
            indexes.append(index)
            correlation_id = meta.correlation_id
            if correlation_id:
                correlations = self._correlations
                correlations[correlation_id] = _push(correlations.get(correlation_id), index)
            self._ids.add(meta.id)
            log.append(
                (
                    meta.id,
                    meta.type,
                    meta.kind,
                    stream,
                    meta.time,
                    meta.version,
                    meta.position,
                    index + 1,
                    correlation_id,
                    meta.causation_id,
                    meta.__dict__.get("_headers") or None,
                    meta.domain,
                    meta.priority,
                    message.to_dict(),
                )
            )

    # -- reading --------------------------------------------------------
    def _stored(self, index: int) -> StoredMessage:
        (mid, mtype, kind, stream, time, version, position, global_position, correlation_id,
         causation_id, headers, domain, priority, data) = self._log[index]
        metadata = {
            "id": mid,
            "type": mtype,
            "kind": kind,
            "stream": stream,
            "time": time.isoformat() if time is not None else None,
            "version": version,
            "position": position,
            "global_position": global_position,
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "headers": dict(headers) if headers else {},
            "domain": domain,
            "priority": priority,
        }
        return {"metadata": metadata, "data": clone(data)}

    def read_stream(
        self, stream: str, from_position: int = 0, to_position: int | None = None
    ) -> list[StoredMessage]:
        indexes = _as_list(self._streams.get(stream))
        end = None if to_position is None else to_position + 1
        return [self._stored(i) for i in indexes[from_position:end]]

    def read_category(self, category: str, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]:
        indexes = self._categories.get(category, [])
        return [self._stored(i) for i in indexes if i + 1 > after_global][:limit]

    def read_all(self, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]:
        return [self._stored(i) for i in range(after_global, min(len(self._log), after_global + limit))]

    def read_correlated(self, correlation_id: str) -> list[StoredMessage]:
        return [self._stored(i) for i in _as_list(self._correlations.get(correlation_id))]

    def last_position(self, stream: str) -> int:
        return _length(self._streams.get(stream)) - 1

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
