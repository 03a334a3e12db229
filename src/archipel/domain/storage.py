"""Storage of a ``Domain``: schemas, repositories and read views of its
stored elements, and the set-up, drop and truncation of its databases."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from archipel.core.view import ReadView
from archipel.domain.state import DomainState
from archipel.errors import IncorrectUsageError
from archipel.handling.repository import BaseRepository, ReadOnlyRepository, Repository
from archipel.port.outbox import configured_relay_shards
from archipel.port.schema import ModelSchema

__all__ = ["Storage"]


class Storage(DomainState):
    """Mixin of ``Domain``: where and how its aggregates, projections and process managers are stored."""

    def schema_for(self, cls: type) -> ModelSchema:
        """Storage description of an aggregate, projection or process manager."""
        try:
            return self._schemas[cls]
        except KeyError:
            self._ensure_initialized()
            raise IncorrectUsageError(
                f"{getattr(cls, '__name__', cls)} is not stored by domain {self.name!r}: only "
                "registered aggregates, projections and process managers have repositories",
                code="USAGE_ELEMENT_NOT_REGISTERED",
                location="Domain.repository_for",
            ) from None

    @property
    def schemas(self) -> list[ModelSchema]:
        return list(self._schemas.values())

    def repository_for(self, cls: type) -> Any:
        """The repository of an aggregate or projection (custom one if registered)."""
        repo = self._repositories.get(cls)
        if repo is None:
            self._ensure_initialized()
            schema = self.schema_for(cls)
            if schema.database not in self.providers.databases and self.providers.has_store(schema.database):
                cache = cls._meta.get("cache")  # type: ignore[attr-defined]
                raise IncorrectUsageError(
                    f"{cls.__name__} is cache-backed (cache={cache!r}, provider "
                    f"{self.providers.cache(cache).provider!r}), so it has no repository: use "
                    f"domain.cache_for({cls.__name__}) to write and read it",
                    code="USAGE_CACHE_BACKED_NO_REPOSITORY",
                    location="Domain.repository_for",
                )
            repo_cls: type[BaseRepository[Any]] = Repository
            for custom in self.registry.of_kind("repository").values():
                if custom._meta.part_of is cls:  # type: ignore[attr-defined]
                    repo_cls = custom
            if schema.kind == "event_sourced":
                for custom in self.registry.of_kind("event_sourced_repository").values():
                    if custom._meta.part_of is cls:  # type: ignore[attr-defined]
                        repo_cls = custom
            if schema.kind == "process_manager":
                from archipel.handling.process_managers import ProcessManagerRepository

                repo_cls = ProcessManagerRepository
            elif schema.kind == "event_sourced" and repo_cls is Repository:
                from archipel.handling.event_sourced import EventSourcedRepository

                repo_cls = EventSourcedRepository
            repo = repo_cls(self, cls, schema)
            self._repositories[cls] = repo
        return repo

    @property
    def caches(self) -> Mapping[str, Any]:
        """The domain's caches by name (``[caches.<name>]``), read-only: ``domain.caches["default"]``."""
        self._ensure_initialized()
        return MappingProxyType(self.providers.caches)

    def cache_for(self, projection_cls: type) -> Any:
        """The :class:`~archipel.port.cache.Cache` holding a projection declared ``cache="<name>"``.

        ``IncorrectUsageError`` for anything else (a projection stored in a
        database has a repository: :meth:`repository_for`).
        """
        meta = getattr(projection_cls, "_meta", None)
        cache = meta.get("cache") if meta is not None and meta.kind == "projection" else None
        if not cache:
            raise IncorrectUsageError(
                f"cache_for takes a projection declared with cache=\"<name>\", got "
                f"{getattr(projection_cls, '__name__', projection_cls)}"
            )
        self._ensure_initialized()
        found = self.providers.cache(cache)
        found.register_projection(projection_cls)
        return found

    def query_for(self, projection_cls: type) -> ReadOnlyRepository[Any]:
        """Read-only access to a projection: ``get``, ``find``, ``query``."""
        kind = getattr(getattr(projection_cls, "_meta", None), "kind", None)
        if kind != "projection":
            raise IncorrectUsageError(
                f"query_for takes a projection, got {getattr(projection_cls, '__name__', projection_cls)}"
            )
        return ReadOnlyRepository(self.repository_for(projection_cls))

    def view_for(self, projection_cls: type) -> ReadView[Any]:
        """A read-only :class:`~archipel.core.view.ReadView` of a projection:
        ``get``, ``find_by``, ``count``, ``exists`` and ``query`` (a
        :class:`~archipel.core.queryset.ReadOnlyQuerySet`); nothing that writes."""
        kind = getattr(getattr(projection_cls, "_meta", None), "kind", None)
        if kind != "projection":
            raise IncorrectUsageError(
                f"view_for takes a projection, got {getattr(projection_cls, '__name__', projection_cls)}"
                + (f" ({kind})" if kind else ""),
                code="USAGE_NOT_A_PROJECTION",
                location="Domain.view_for",
            )
        return ReadView(projection_cls, self.repository_for(projection_cls))

    @contextmanager
    def connection_for(self, projection_cls: type) -> Iterator[Any]:
        """The raw connection of a projection's database, for the block (Protean's escape hatch).

        ``with domain.connection_for(Report) as conn:`` gives the driver's own
        connection (``psycopg.Connection`` for PostgreSQL, ``sqlite3.Connection``
        for SQLite), lent by archipel's pool and given back when the block ends;
        no transaction is opened for you. The memory database gives its
        :class:`~archipel.adapters.memory.database.MemoryDatabase` (read rows with its ``records(table)``);
        a projection declared ``cache=...`` gives its cache's client.
        ``IncorrectUsageError`` for anything but a registered projection.
        """
        kind = getattr(getattr(projection_cls, "_meta", None), "kind", None)
        if kind != "projection":
            raise IncorrectUsageError(
                "connection_for takes a projection, got "
                f"{getattr(projection_cls, '__name__', projection_cls)}" + (f" ({kind})" if kind else ""),
                code="USAGE_NOT_A_PROJECTION",
                location="Domain.connection_for",
            )
        self._ensure_initialized()
        cache = projection_cls._meta.get("cache")  # type: ignore[attr-defined]
        if cache:  # a cache-backed projection: the cache's client (redis.Redis, or the memory dict)
            yield self.providers.cache(cache).get_connection()
            return
        database = self.providers.database(self.schema_for(projection_cls).database)
        engine = getattr(database, "engine", None)
        lend = getattr(engine, "connection", None)
        if lend is None:
            yield database
            return
        with lend() as connection:
            yield connection

    def _each_database_schemas(self) -> Iterator[tuple[Any, list[ModelSchema]]]:
        self._ensure_initialized()
        for name, database in self.providers.databases.items():
            schemas = [
                s for s in self._schemas.values() if s.database == name and s.kind != "event_sourced"
            ]
            if name == "default":
                schemas.append(self._idempotency_schema)
                if self.registry.of_kind("process_manager"):
                    from archipel.handling.deadlines import deadline_schema

                    schemas.append(deadline_schema(self))  # set up, truncated, dropped with the rest
            yield database, schemas

    def _declare_relay_shards(self, database: Any) -> None:
        # the outbox's claim index for the configured relay shards (SQL databases)
        declare = getattr(database, "declare_relay_shards", None)
        if declare is not None:
            declare(configured_relay_shards(self.config))

    def setup_database(self) -> None:
        """Create the tables of every database (idempotent)."""
        for database, schemas in self._each_database_schemas():
            self._declare_relay_shards(database)
            database.setup(schemas)
        setup = getattr(self.providers.event_store, "setup", None)
        if setup is not None:
            setup()

    def setup_outbox(self) -> None:
        """Create archipel's own tables only (idempotent): the outbox, beside the event log
        and the processed-message markers, in every database; model tables are untouched.

        Protean's ``domain.setup_outbox()``, for a database whose model tables
        already exist (e.g. managed by migrations) before the engine starts.
        """
        self._ensure_initialized()
        for database in self.providers.databases.values():
            self._declare_relay_shards(database)
            database.setup([])
        setup = getattr(self.providers.event_store, "setup", None)
        if setup is not None:
            setup()

    def drop_database(self) -> None:
        """Drop the tables of every database (and the event store's)."""
        for database, schemas in self._each_database_schemas():
            database.drop(schemas)
        drop = getattr(self.providers.event_store, "drop", None)
        if drop is not None:
            drop()

    def truncate_database(self) -> None:
        """Delete all data (tables stay), including events and broker streams."""
        for database, schemas in self._each_database_schemas():
            database.truncate(schemas)
        self.providers.event_store.truncate()
        for broker in self.providers.brokers.values():
            truncate = getattr(broker, "truncate", None)
            if truncate is not None:
                truncate()

