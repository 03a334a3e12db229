"""Provider registry: chooses adapters by the ``provider`` name in the config.

Built-in providers load lazily (their drivers are optional extras);
third-party adapters register through the ``archipel.providers`` entry-point
group (``name = "package.module:factory"``) or :func:`register_provider`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from archipel.errors import ConfigurationError

__all__ = ["register_provider", "providers", "create"]

_BUILTIN: dict[str, dict[str, str]] = {
    "database": {
        "memory": "archipel.adapters.memory.database:MemoryDatabase",
        "sqlite": "archipel.adapters.sql.database:create_database",
        "postgresql": "archipel.adapters.sql.database:create_database",
        # "sql": SQLite or PostgreSQL, chosen by the scheme of database_uri
        "sql": "archipel.adapters.sql.database:create_database",
    },
    "event_store": {
        "memory": "archipel.adapters.memory.event_store:MemoryEventStore",
        "sqlite": "archipel.adapters.sql.event_store:create_event_store",
        "postgresql": "archipel.adapters.sql.event_store:create_event_store",
        "sql": "archipel.adapters.sql.event_store:create_event_store",
    },
    "broker": {
        "inline": "archipel.adapters.memory.broker:InlineBroker",
        "memory": "archipel.adapters.memory.broker:InlineBroker",
        "redis": "archipel.adapters.redis.broker:RedisBroker",
        "redis_pubsub": "archipel.adapters.redis.pubsub:RedisPubSubBroker",
        "database": "archipel.adapters.sql.broker:DatabaseBroker",
    },
    "cache": {
        "memory": "archipel.adapters.cache.memory:MemoryCache",
        "redis": "archipel.adapters.cache.redis:RedisCache",
    },
}
_EXTRA: dict[str, dict[str, Callable[..., Any] | str]] = {"database": {}, "event_store": {}, "broker": {}, "cache": {}}
_EXTRAS_HINT = {"sqlite": "sql", "postgresql": "sql", "sql": "sql", "redis": "redis", "redis_pubsub": "redis", "database": "sql"}


def register_provider(kind: str, name: str, factory: Callable[..., Any] | str) -> None:
    """Make ``provider = name`` available for ``kind`` (database, event_store, broker, cache)."""
    if kind not in _EXTRA:
        raise ConfigurationError(f"unknown provider kind {kind!r}; use one of {sorted(_EXTRA)}")
    _EXTRA[kind][name] = factory


def _entry_points(kind: str) -> dict[str, str]:
    found = {}
    for ep in entry_points(group=f"archipel.{kind}_providers"):
        found[ep.name] = ep.value
    return found


def providers(kind: str) -> list[str]:
    """Names of every provider available for ``kind``."""
    return sorted({*_BUILTIN[kind], *_EXTRA[kind], *_entry_points(kind)})


def _load(target: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)  # type: ignore[no-any-return]


def create(kind: str, provider: str, *args: Any, **kwargs: Any) -> Any:
    """Build the adapter for ``provider``; missing drivers name the extra to install."""
    target = _EXTRA[kind].get(provider) or _BUILTIN[kind].get(provider) or _entry_points(kind).get(provider)
    if target is None:
        raise ConfigurationError(
            f"unknown {kind.replace('_', ' ')} provider {provider!r}; known: {', '.join(providers(kind))}"
        )
    try:
        factory = _load(target)
    except ModuleNotFoundError as exc:
        extra = _EXTRAS_HINT.get(provider, "all")
        raise ConfigurationError(
            f"provider {provider!r} needs a driver that is not installed ({exc.name}): "
            f"run `pip install 'archipel[{extra}]'`"
        ) from exc
    return factory(*args, **kwargs)
