"""The adapters of one domain, built from its configuration at ``init()``."""

from __future__ import annotations

from typing import Any

from archipel.errors import ConfigurationError
from archipel.handling.protean_store import ProteanStore
from archipel.port import registry

__all__ = ["CACHE_PREFIX", "Providers"]

#: the database of cache ``x`` (projections declared with ``cache="x"``) is ``cache:x``
CACHE_PREFIX = "cache:"


class Providers:
    """Databases, event store, brokers and caches of a domain (built once, closed once)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self.databases: dict[str, Any] = {}
        self.brokers: dict[str, Any] = {}
        #: ``[caches.<name>]`` adapters (:class:`~archipel.port.cache.Cache`)
        self.caches: dict[str, Any] = {}
        self._event_store: Any = None

    def build(self) -> None:
        for name, settings in self._config.get("databases", {}).items():
            self.databases[name] = registry.create("database", settings["provider"], name, settings)
        for name, settings in self._config.get("caches", {}).items():
            self.caches[name] = registry.create("cache", settings["provider"], name, settings)
            # a memory cache also lends projections declared ``cache=...`` a memory
            # database, so their repository works as before (archipel's extension)
            if settings.get("provider") == "memory":
                self.databases[f"{CACHE_PREFIX}{name}"] = registry.create("database", "memory", name, {"provider": "memory"})
        store = self._config.get("event_store") or {"provider": "memory"}
        self._event_store = self._shared_event_store(store)
        # Protean's ``domain.event_store.store``: the same store read with Protean's names
        self._event_store.store = ProteanStore(self._event_store)
        for name, settings in self._config.get("brokers", {}).items():
            # the database broker keeps its streams in one of this domain's databases
            extra = {"databases": self.databases} if settings["provider"] == "database" else {}
            self.brokers[name] = registry.create("broker", settings["provider"], name, settings, **extra)

    def time_statements(self, timed: Any) -> None:
        """Time the statements of every SQL engine of these adapters with ``timed`` (the
        domain's slow-query log, :class:`~archipel.adapters.sql.echo.QueryLog`); the
        engines of other domains are left as they are."""
        adapters = [*self.databases.values(), self._event_store, *self.brokers.values()]
        for adapter in adapters:
            engine = getattr(adapter, "engine", None)
            if engine is not None and hasattr(engine, "query_log"):
                engine.query_log = timed

    def _shared_event_store(self, settings: dict[str, Any]) -> Any:
        # an SQL event store on the same database as ``default`` shares its
        # engine, so aggregate rows and events commit in one transaction
        default = self.databases.get("default")
        factory_kwargs = {"database": default} if settings["provider"] != "memory" else {}
        return registry.create("event_store", settings["provider"], settings, **factory_kwargs)

    def cache(self, name: str = "default") -> Any:
        """The cache adapter ``[caches.<name>]``; ConfigurationError naming the configured ones."""
        try:
            return self.caches[name]
        except KeyError:
            raise ConfigurationError(
                f"no cache named {name!r}: add [caches.{name}] to domain.toml "
                f"(configured: {', '.join(self.caches) or 'none'})"
            ) from None

    def has_store(self, name: str) -> bool:
        """True when the store ``name`` of a schema exists: a database, or a configured cache."""
        if name in self.databases:
            return True
        return name.startswith(CACHE_PREFIX) and name[len(CACHE_PREFIX):] in self.caches

    def __getitem__(self, name: str) -> Any:
        """``domain.providers["default"]`` (Protean's): the database of that name."""
        return self.database(name)

    def database(self, name: str = "default") -> Any:
        try:
            return self.databases[name]
        except KeyError:
            if name.startswith(CACHE_PREFIX):
                cache = name[len(CACHE_PREFIX):]
                raise ConfigurationError(
                    f"cache {cache!r} is not configured: add [caches.{cache}] to domain.toml "
                    f"(configured: {', '.join(self.caches) or 'none'})"
                ) from None
            raise ConfigurationError(
                f"no database named {name!r}: add [databases.{name}] to domain.toml "
                f"(configured: {', '.join(self.databases) or 'none'})"
            ) from None

    @property
    def event_store(self) -> Any:
        return self._event_store

    def broker(self, name: str = "default") -> Any:
        try:
            return self.brokers[name]
        except KeyError:
            raise ConfigurationError(
                f"no broker named {name!r}: add [brokers.{name}] to domain.toml"
            ) from None

    def close(self) -> None:
        for adapter in [*self.brokers.values(), self._event_store, *self.databases.values(), *self.caches.values()]:
            close = getattr(adapter, "close", None)
            if close is not None:
                close()
        self.databases.clear()
        self.brokers.clear()
        self.caches.clear()
        self._event_store = None
