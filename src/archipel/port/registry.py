"""Provider registry: chooses adapters by the ``provider`` name in the config.

Built-in providers load lazily (their drivers are optional extras);
third-party adapters register through the ``archipel.<kind>_providers`` entry-point
groups (``name = "package.module:factory"``), :func:`register_provider`, or Protean's
registry objects (:class:`NamedRegistry`: ``archipel.port.provider.registry`` for
databases, ``archipel.port.broker.registry`` for brokers), whose ``register(name,
"package.module.Class")`` makes ``provider = name`` available in the configuration.
What is registered is built as archipel builds its own adapters of that kind (a
database: ``factory(name, settings)``), and must implement archipel's port.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from archipel.errors import ConfigurationError

_log = logging.getLogger(__name__)

__all__ = ["NamedRegistry", "create", "providers", "register_provider"]

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
    if ":" in target:
        module_name, _, attr = target.partition(":")
    else:  # Protean's spelling: package.module.Class
        module_name, _, attr = target.rpartition(".")
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


def _path(target: Callable[..., Any] | str) -> str:
    if isinstance(target, str):
        return target
    return f"{target.__module__}.{getattr(target, '__qualname__', repr(target))}"


class NamedRegistry:
    """The providers of one kind by name, as Protean's ``ProviderRegistry`` and
    ``BrokerRegistry`` offer them: :meth:`register`, :meth:`get`, :meth:`list`,
    :meth:`clear`. Every instance of a kind shares one table (the module's)."""

    #: ``database``, ``broker``, ``event_store`` or ``cache`` (set by subclasses)
    kind = "database"

    def register(self, name: str, provider_class_path: str) -> None:
        """Make ``provider = name`` build the class at ``provider_class_path``
        (``package.module.Class``, or ``package.module:factory``); a name registered
        again is replaced, with a warning in the log, as in Protean."""
        if not isinstance(name, str) or not name or not isinstance(provider_class_path, str):
            raise ConfigurationError(
                f"register() takes a provider name and a class path such as 'package.module.Class'; "
                f"got {name!r}, {provider_class_path!r}"
            )
        if name in _EXTRA[self.kind]:
            _log.warning("%s provider %r is already registered, overwriting", self.kind, name)
        _EXTRA[self.kind][name] = provider_class_path

    def get(self, name: str) -> Callable[..., Any]:
        """The class (or factory) ``provider = name`` builds; a ``ConfigurationError``
        naming the available providers when there is none, or when it cannot be imported."""
        target = _EXTRA[self.kind].get(name) or _BUILTIN[self.kind].get(name) or _entry_points(self.kind).get(name)
        if target is None:
            raise ConfigurationError(
                f"unknown {self.kind.replace('_', ' ')} provider {name!r}; known: {', '.join(providers(self.kind))}"
            )
        try:
            return _load(target)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"could not load {self.kind} provider {name!r} from {_path(target)!r}: {exc}") from exc

    def list(self) -> dict[str, str]:
        """Every available provider's name and the path of what it builds."""
        found: dict[str, Callable[..., Any] | str] = {**_BUILTIN[self.kind], **_entry_points(self.kind)}
        found.update(_EXTRA[self.kind])
        return {name: _path(target) for name, target in sorted(found.items())}

    def clear(self) -> None:
        """Forget the providers registered at run time (archipel's built-in ones and
        those of installed packages stay: Protean's also clears its built-in names)."""
        _EXTRA[self.kind].clear()
