"""In-memory event store: a columnar append-only log with linked indexes.

The log is a handful of parallel lists (one per metadata field, plus the
data dicts), and each index — by stream, by category, by correlation id —
maps a key to its *latest* log entry, with a "previous entry" column linking
back. Appending is O(1); reading a stream or a correlation walks its links.
Nothing per message is a container the garbage collector has to track
(lists of strings and ints, dicts of scalars), so a store of millions of
events does not slow every collection down; tuples and per-stream lists
would (CPython keeps them tracked).

Reads return the storage form ``{"metadata": ..., "data": ...}``. Appends
that arrive with a memory transaction are checked and applied atomically at
its commit.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from archipel.adapters.memory._copy import STORE_LOCK, clone
from archipel.errors import ExpectedVersionError
from archipel.port.event_store import StoredMessage

__all__ = ["MemoryEventStore", "category_of"]

_NONE = -1


def category_of(stream: str) -> str:
    """``"shop::order-42"`` -> ``"shop::order"``; command streams keep ``:command``."""
    return stream.split("-", 1)[0]


class MemoryEventStore:
    """``provider = "memory"`` for ``[event_store]``."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self._reset()

    def _reset(self) -> None:
        # columns: entry i of each list describes log entry i (global position i + 1)
        self._id: list[str] = []
        self._type: list[str] = []
        self._kind: list[str] = []
        self._stream: list[str] = []
        self._time: list[Any] = []
        self._version: list[int] = []
        self._position: list[int] = []
        self._correlation: list[str | None] = []
        self._causation: list[str | None] = []
        self._headers: list[dict[str, Any] | None] = []
        self._extensions: list[dict[str, Any] | None] = []
        self._domain: list[str | None] = []
        self._priority: list[int] = []
        self._data: list[dict[str, Any]] = []
        self._prev_in_stream: list[int] = []
        self._prev_in_category: list[int] = []
        self._prev_in_correlation: list[int] = []
        # key -> latest log index
        self._stream_last: dict[str, int] = {}
        self._category_last: dict[str, int] = {}
        self._correlation_last: dict[str, int] = {}
        self._ids: set[str] = set()

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

    def _next_position(self, stream: str) -> int:
        last = self._stream_last.get(stream)
        return 0 if last is None else self._position[last] + 1

    def _check(self, messages: Sequence[Any]) -> list[Any]:
        fresh = []
        next_positions: dict[str, int] = {}
        ids = self._ids
        for message in messages:
            meta = message._metadata
            if meta.id in ids:
                continue
            stream = meta.stream
            expected = next_positions.get(stream)
            if expected is None:
                expected = self._next_position(stream)
            position = meta.position
            if position is not None and position != expected:
                raise ExpectedVersionError(
                    f"stream {stream!r} cannot take position {position}: its next position is "
                    f"{expected} (another writer got there first); reload and retry",
                    stream=stream,
                    expected=position,
                    actual=expected - 1,
                )
            next_positions[stream] = expected + 1
            fresh.append(message)
        return fresh

    def _apply(self, messages: list[Any]) -> None:
        stream_last = self._stream_last
        category_last = self._category_last
        correlation_last = self._correlation_last
        for message in messages:
            meta = message._metadata
            values = meta.__dict__
            index = len(self._id)
            stream = meta.stream
            previous = stream_last.get(stream)
            position = meta.position
            if position is None:
                position = 0 if previous is None else self._position[previous] + 1
                values["position"] = position
            values["global_position"] = index + 1
            category = stream.split("-", 1)[0]
            correlation_id = meta.correlation_id
            self._id.append(meta.id)
            self._type.append(meta.type)
            self._kind.append(meta.kind)
            self._stream.append(stream)
            self._time.append(meta.time)
            self._version.append(meta.version)
            self._position.append(position)
            self._correlation.append(correlation_id)
            self._causation.append(meta.causation_id)
            self._headers.append(values.get("_headers") or None)
            extensions = values.get("_extensions")
            self._extensions.append(dict(extensions) if extensions else None)
            self._domain.append(meta.domain)
            self._priority.append(meta.priority)
            self._data.append(message.to_dict())
            self._prev_in_stream.append(_NONE if previous is None else previous)
            self._prev_in_category.append(category_last.get(category, _NONE))
            self._prev_in_correlation.append(
                correlation_last.get(correlation_id, _NONE) if correlation_id else _NONE
            )
            stream_last[stream] = index
            category_last[category] = index
            if correlation_id:
                correlation_last[correlation_id] = index
            self._ids.add(meta.id)

    # -- reading --------------------------------------------------------
    def _stored(self, index: int) -> StoredMessage:
        time = self._time[index]
        headers = self._headers[index]
        metadata = {
            "id": self._id[index],
            "type": self._type[index],
            "kind": self._kind[index],
            "stream": self._stream[index],
            "time": time.isoformat() if time is not None else None,
            "version": self._version[index],
            "position": self._position[index],
            "global_position": index + 1,
            "correlation_id": self._correlation[index],
            "causation_id": self._causation[index],
            "headers": dict(headers) if headers else {},
            "domain": self._domain[index],
            "priority": self._priority[index],
        }
        extensions = self._extensions[index]
        if extensions:
            metadata["extensions"] = dict(extensions)
        return {"metadata": metadata, "data": clone(self._data[index])}

    def _walk(self, last: int | None, links: list[int], stop_below: int = _NONE) -> list[int]:
        """Log indexes from ``last`` back along ``links``, returned oldest first."""
        found = []
        index = _NONE if last is None else last
        while index != _NONE and index > stop_below:
            found.append(index)
            index = links[index]
        found.reverse()
        return found

    def read_stream(
        self, stream: str, from_position: int = 0, to_position: int | None = None
    ) -> list[StoredMessage]:
        indexes = self._walk(self._stream_last.get(stream), self._prev_in_stream)
        positions = self._position
        return [
            self._stored(i)
            for i in indexes
            if positions[i] >= from_position and (to_position is None or positions[i] <= to_position)
        ]

    def at_version(self, stream: str, version: int) -> list[StoredMessage]:
        """The messages of ``stream`` up to position ``version`` (inclusive)."""
        return self.read_stream(stream, 0, version)

    def as_of(self, stream: str, when: _dt.datetime) -> list[StoredMessage]:
        """The messages of ``stream`` written at or before ``when`` (naive means UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.UTC)
        indexes = self._walk(self._stream_last.get(stream), self._prev_in_stream)
        times = self._time
        return [self._stored(i) for i in indexes if times[i] is not None and times[i] <= when]

    def read_category(self, category: str, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]:
        # global position = index + 1, so "after_global" means index >= after_global
        indexes = self._walk(
            self._category_last.get(category), self._prev_in_category, stop_below=after_global - 1
        )
        return [self._stored(i) for i in indexes[:limit]]

    def read_all(self, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]:
        end = min(len(self._id), after_global + limit)
        return [self._stored(i) for i in range(after_global, end)]

    def read_correlated(self, correlation_id: str) -> list[StoredMessage]:
        indexes = self._walk(self._correlation_last.get(correlation_id), self._prev_in_correlation)
        return [self._stored(i) for i in indexes]

    def last_position(self, stream: str) -> int:
        return self._next_position(stream) - 1

    def count(self) -> int:
        return len(self._id)

    def truncate(self) -> None:
        with STORE_LOCK:
            self._reset()

    def close(self) -> None:
        """Nothing to release."""
