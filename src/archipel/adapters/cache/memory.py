"""The memory cache (``[caches.<name>] provider = "memory"``): entries in this process.

Entries expire after their TTL like Redis keys do (checked on read, swept on
write); each read rebuilds a fresh projection from the stored JSON, so a
caller changing what it got never changes the cache.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Mapping
from typing import Any

from archipel.adapters.cache.core import GET_ALL_MAX, CacheCore, key_for, resolve_ttl
from archipel.port.cache import TTLValue

__all__ = ["MemoryCache"]


class MemoryCache(CacheCore):
    """A cache in a dict of ``key -> (stored JSON, monotonic expiry time)``; thread-safe."""

    provider = "memory"

    def __init__(self, name: str = "default", config: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, config)
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._writes = 0

    # -- reads -------------------------------------------------------------
    def _live(self, key: str, now: float) -> tuple[bytes, float] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] <= now:
            del self._entries[key]
            return None
        return entry

    def _matching(self, key_pattern: str) -> list[tuple[str, bytes]]:
        now = time.monotonic()
        with self._lock:
            keys = [k for k in self._entries if fnmatch.fnmatchcase(k, key_pattern)]
            found = [(k, entry[0]) for k in keys if (entry := self._live(k, now)) is not None]
        return sorted(found)

    def get(self, key: str) -> Any:
        """The projection at ``key``, or ``None`` (absent or expired)."""
        with self._lock:
            entry = self._live(key, time.monotonic())
        return None if entry is None else self._load(key, entry[0])

    def get_all(self, key_pattern: str) -> list[Any]:
        """Projections whose keys match the glob ``key_pattern``, in key order (at most ``GET_ALL_MAX``)."""
        return [self._load(k, raw) for k, raw in self._matching(key_pattern)[:GET_ALL_MAX]]

    #: Protean's (private) name of :meth:`get_all`
    _get_all = get_all

    def count(self, key_pattern: str) -> int:
        """How many live keys match the glob ``key_pattern``."""
        return len(self._matching(key_pattern))

    def get_ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires (``None`` if absent)."""
        now = time.monotonic()
        with self._lock:
            entry = self._live(key, now)
        return None if entry is None else entry[1] - now

    # -- writes ------------------------------------------------------------
    def add(self, projection: Any, ttl: TTLValue | None = None) -> None:
        """Store ``projection`` for ``ttl`` seconds (default: the cache's ``TTL``)."""
        seconds = self._ttl_for(ttl)
        key, raw = self._dump(projection)
        now = time.monotonic()
        with self._lock:
            self._writes += 1
            if self._writes % 1024 == 0:  # sweep expired entries now and then (cheap on average)
                self._entries = {k: e for k, e in self._entries.items() if e[1] > now}
            self._entries[key] = (raw, now + seconds)

    def remove(self, projection: Any) -> None:
        """Remove the entry of ``projection`` (nothing if absent)."""
        self.remove_by_key(key_for(projection))

    def remove_by_key(self, key: str) -> None:
        """Remove the entry at ``key`` (nothing if absent)."""
        with self._lock:
            self._entries.pop(key, None)

    def remove_by_key_pattern(self, key_pattern: str) -> None:
        """Remove every entry whose key matches the glob ``key_pattern``."""
        with self._lock:
            for key in [k for k in self._entries if fnmatch.fnmatchcase(k, key_pattern)]:
                del self._entries[key]

    def set_ttl(self, key: str, ttl: TTLValue) -> None:
        """Make ``key`` expire ``ttl`` seconds from now (nothing if absent)."""
        seconds = resolve_ttl(ttl, f"cache {self.name!r}")
        now = time.monotonic()
        with self._lock:
            entry = self._live(key, now)
            if entry is not None:
                self._entries[key] = (entry[0], now + seconds)

    def flush_all(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._entries.clear()

    # -- admin -------------------------------------------------------------
    def ping(self) -> bool:
        """Always True: the cache is this process's memory."""
        return True

    def get_connection(self) -> dict[str, tuple[bytes, float]]:
        """The raw entries (Protean's escape hatch)."""
        return self._entries

    def close(self) -> None:
        """Nothing to release."""
