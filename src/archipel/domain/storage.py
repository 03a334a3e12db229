"""Storage of a ``Domain``: schemas, repositories and read views of its
stored elements, and the set-up, drop and truncation of its databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from archipel.core.view import ReadView
from archipel.domain.state import DomainState
from archipel.errors import IncorrectUsageError
from archipel.handling.repository import BaseRepository, ReadOnlyRepository, Repository
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
                "registered aggregates, projections and process managers have repositories"
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
            repo_cls: type[BaseRepository[Any]] = Repository
            for custom in self.registry.of_kind("repository").values():
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
                + (f" ({kind})" if kind else "")
            )
        return ReadView(projection_cls, self.repository_for(projection_cls))

    def _each_database_schemas(self) -> Iterator[tuple[Any, list[ModelSchema]]]:
        self._ensure_initialized()
        for name, database in self.providers.databases.items():
            schemas = [
                s for s in self._schemas.values() if s.database == name and s.kind != "event_sourced"
            ]
            if name == "default":
                schemas.append(self._idempotency_schema)
            yield database, schemas

    def setup_database(self) -> None:
        """Create the tables of every database (idempotent)."""
        for database, schemas in self._each_database_schemas():
            database.setup(schemas)
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

