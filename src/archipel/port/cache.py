"""The cache port (Protean's ``protean.port.cache``): projections kept by key, with a TTL.

A cache holds projections declared ``cache="<name>"`` under the key
``<snake_name>:::<identity>`` (``user_profile:::42``), as Protean does. The port
is split by role: :class:`CacheReader` (``get``, ``get_all``, ``count``,
``get_ttl``), :class:`CacheWriter` (``add``, ``remove``, ``remove_by_key``,
``remove_by_key_pattern``, ``set_ttl``, ``flush_all``) and :class:`CacheAdmin`
(``register_projection``, ``ping``, ``close``); :class:`Cache` (alias
``BaseCache``) is their union. TTLs are seconds everywhere.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["BaseCache", "Cache", "CacheAdmin", "CacheReader", "CacheWriter", "TTLValue"]

#: what a caller may pass as a TTL: seconds as a number, or text holding one
TTLValue = int | float | str


@runtime_checkable
class CacheReader(Protocol):
    """Reads of a cache."""

    def get(self, key: str) -> Any:
        """The projection stored at ``key``, or ``None`` (absent or expired)."""
        ...

    def get_all(self, key_pattern: str) -> list[Any]:
        """Every projection whose key matches the glob ``key_pattern``, in key order."""
        ...

    def count(self, key_pattern: str) -> int:
        """How many live keys match the glob ``key_pattern``."""
        ...

    def get_ttl(self, key: str) -> float | None:
        """Seconds before ``key`` expires: ``None`` if absent, ``math.inf`` if it never does."""
        ...


@runtime_checkable
class CacheWriter(Protocol):
    """Writes of a cache."""

    def add(self, projection: Any, ttl: TTLValue | None = None) -> None:
        """Store ``projection`` under its key for ``ttl`` seconds (default: the cache's ``TTL``)."""
        ...

    def remove(self, projection: Any) -> None:
        """Remove the entry of ``projection`` (nothing if absent)."""
        ...

    def remove_by_key(self, key: str) -> None:
        """Remove the entry at ``key`` (nothing if absent)."""
        ...

    def remove_by_key_pattern(self, key_pattern: str) -> None:
        """Remove every entry whose key matches the glob ``key_pattern``."""
        ...

    def set_ttl(self, key: str, ttl: TTLValue) -> None:
        """Make ``key`` expire ``ttl`` seconds from now (nothing if absent)."""
        ...

    def flush_all(self) -> None:
        """Remove every entry of the cache."""
        ...


@runtime_checkable
class CacheAdmin(Protocol):
    """Wiring and health of a cache."""

    def register_projection(self, projection_cls: type) -> None:
        """Let the cache rebuild ``projection_cls`` from its keys."""
        ...

    def ping(self) -> bool:
        """True when the cache answers."""
        ...

    def close(self) -> None:
        """Release connections (idempotent)."""
        ...


@runtime_checkable
class Cache(CacheReader, CacheWriter, CacheAdmin, Protocol):
    """A whole cache adapter."""


#: Protean's name for the cache port
BaseCache = Cache
