"""The Redis cache (``[caches.<name>] provider = "redis"``, ``URI = "redis://host:6379/2"``).

Each entry is a Redis string at its key (``user_profile:::42``) written with
``PSETEX`` (millisecond TTLs), so every process with the same ``URI`` shares
it. As in Protean, ``flush_all`` empties the whole Redis database of ``URI``:
give the cache a database of its own (the ``/2`` of the URI).

Settings: ``URI`` (or ``url``/``uri``), ``TTL`` (seconds, default 300),
``connect_timeout`` and ``socket_timeout`` (seconds), ``max_connections``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import redis

from archipel.adapters.cache.core import GET_ALL_MAX, CacheCore, key_for, resolve_ttl
from archipel.errors import ConfigurationError
from archipel.port.cache import TTLValue

__all__ = ["RedisCache"]

_PASSWORD = re.compile(r"(?P<prefix>://[^:/?#@\s]*:)[^@/?#\s]*@")
_BATCH = 500


class RedisCache(CacheCore):
    """A cache in one Redis database; thread-safe (redis-py's connection pool)."""

    provider = "redis"
    extra_settings = ("URI", "url", "uri", "connect_timeout", "socket_timeout", "max_connections")

    def __init__(self, name: str = "default", config: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, config)
        url = self.config.get("URI") or self.config.get("url") or self.config.get("uri")
        if not url:
            raise ConfigurationError(
                f'[caches.{name}] provider = "redis" needs a server address: '
                'add URI = "redis://localhost:6379/2" (or url = ...)'
            )
        #: the URI with its password masked (for messages and logs)
        self.where = _PASSWORD.sub(lambda m: f"{m.group('prefix')}***@", str(url))
        self._client: Any = redis.Redis.from_url(
            str(url),
            socket_connect_timeout=float(self.config.get("connect_timeout", 2.0)),
            socket_timeout=float(self.config.get("socket_timeout", 10.0)),
            max_connections=int(self.config.get("max_connections", 32)),
        )

    def _keys(self, key_pattern: str) -> list[bytes]:
        # SCAN may return a key twice during one iteration: deduplicate
        return sorted(set(self._client.scan_iter(match=key_pattern, count=_BATCH)))

    # -- reads -------------------------------------------------------------
    def get(self, key: str) -> Any:
        """The projection at ``key``, or ``None`` (absent or expired)."""
        raw = self._client.get(key)
        return None if raw is None else self._load(key, raw)

    def get_all(self, key_pattern: str) -> list[Any]:
        """Projections whose keys match the glob ``key_pattern``, in key order (at most ``GET_ALL_MAX``).

        Scans the whole Redis database: a utility for tests and small sets, not a read path."""
        keys = self._keys(key_pattern)[:GET_ALL_MAX]
        values = self._client.mget(keys) if keys else []
        return [self._load(k.decode(), raw) for k, raw in zip(keys, values, strict=True) if raw is not None]

    #: Protean's (private) name of :meth:`get_all`
    _get_all = get_all

    def count(self, key_pattern: str) -> int:
        """How many keys match the glob ``key_pattern`` (a scan of the database)."""
        return len(self._keys(key_pattern))

    def get_ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires: ``None`` if absent, ``math.inf`` if it never does."""
        left = int(self._client.pttl(key))
        if left == -2:
            return None
        if left == -1:
            return math.inf
        return left / 1000

    # -- writes ------------------------------------------------------------
    def add(self, projection: Any, ttl: TTLValue | None = None) -> None:
        """Store ``projection`` for ``ttl`` seconds (default: the cache's ``TTL``)."""
        seconds = self._ttl_for(ttl)
        key, raw = self._dump(projection)
        self._client.psetex(key, max(1, round(seconds * 1000)), raw)

    def remove(self, projection: Any) -> None:
        """Remove the entry of ``projection`` (nothing if absent)."""
        self._client.delete(key_for(projection))

    def remove_by_key(self, key: str) -> None:
        """Remove the entry at ``key`` (nothing if absent)."""
        self._client.delete(key)

    def remove_by_key_pattern(self, key_pattern: str) -> None:
        """Remove every key matching the glob ``key_pattern`` (in batches of 500)."""
        batch: list[bytes] = []
        for key in self._client.scan_iter(match=key_pattern, count=_BATCH):
            batch.append(key)
            if len(batch) >= _BATCH:
                self._client.delete(*batch)
                batch.clear()
        if batch:
            self._client.delete(*batch)

    def set_ttl(self, key: str, ttl: TTLValue) -> None:
        """Make ``key`` expire ``ttl`` seconds from now (nothing if absent)."""
        seconds = resolve_ttl(ttl, f"cache {self.name!r}")
        self._client.pexpire(key, max(1, round(seconds * 1000)))

    def flush_all(self) -> None:
        """Empty the Redis database of ``URI`` (``FLUSHDB``): every key in it, not only projections."""
        self._client.flushdb()

    # -- admin -------------------------------------------------------------
    def ping(self) -> bool:
        """True when Redis answers ``PING``."""
        try:
            return bool(self._client.ping())
        except redis.exceptions.RedisError:
            return False

    def get_connection(self) -> Any:
        """The ``redis.Redis`` client (Protean's escape hatch)."""
        return self._client

    def close(self) -> None:
        """Close the connection pool (idempotent)."""
        self._client.close()
