"""The inline broker: in-process streams with consumer groups.

With ``message_processing = "sync"`` the domain registers a callback and
every published payload is delivered to the stream's subscribers at once.
Otherwise payloads wait in the stream for ``read``/``ack`` (consumer groups
with per-group cursors and pending lists, like Redis Streams).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from archipel.adapters.memory._copy import clone
from archipel.ports.broker import Delivery

__all__ = ["InlineBroker"]


class InlineBroker:
    """``provider = "inline"`` (or ``"memory"``) for ``[brokers.<name>]``."""

    def __init__(self, name: str = "default", config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.config = config or {}
        self._lock = threading.Lock()
        self._streams: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._cursors: dict[tuple[str, str], int] = {}
        self._pending: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._callback: Callable[[str, dict[str, Any]], None] | None = None

    def on_publish(self, callback: Callable[[str, dict[str, Any]], None] | None) -> None:
        """Deliver every published payload to ``callback`` (sync processing)."""
        self._callback = callback

    def publish(self, stream: str, payload: dict[str, Any]) -> str:
        if not isinstance(payload, dict):
            raise TypeError(f"broker payloads are dicts, got {type(payload).__name__}")
        copy = clone(payload)
        with self._lock:
            message_id = f"{next(self._ids)}-0"
            self._streams.setdefault(stream, []).append((message_id, copy))
        if self._callback is not None:
            self._callback(stream, clone(payload))
        return message_id

    def read(self, stream: str, group: str, consumer: str, count: int = 10) -> list[Delivery]:
        with self._lock:
            entries = self._streams.get(stream, [])
            key = (stream, group)
            cursor = self._cursors.get(key, 0)
            batch = entries[cursor : cursor + count]
            self._cursors[key] = cursor + len(batch)
            pending = self._pending.setdefault(key, {})
            for message_id, payload in batch:
                pending[message_id] = payload
            return [(message_id, clone(payload)) for message_id, payload in batch]

    def ack(self, stream: str, group: str, message_id: str) -> None:
        with self._lock:
            self._pending.get((stream, group), {}).pop(message_id, None)

    def pending_count(self, stream: str, group: str) -> int:
        return len(self._pending.get((stream, group), {}))

    def lag(self, stream: str, group: str) -> int:
        return len(self._streams.get(stream, [])) - self._cursors.get((stream, group), 0)

    def streams(self) -> list[str]:
        return sorted(self._streams)

    def truncate(self) -> None:
        with self._lock:
            self._streams.clear()
            self._cursors.clear()
            self._pending.clear()

    def close(self) -> None:
        """Nothing to release."""
