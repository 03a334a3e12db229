"""``repository._dao``: Protean's data access object of one repository.

Protean's custom repositories reach the database through ``self._dao``
(``self._dao.query.filter(...)``, ``self._dao.find_by(...)``,
``self._dao.exists({}, email=...)``). archipel's repositories already speak
to the database port themselves, so the DAO here is a thin face over its
repository with Protean's names and contracts; everything goes through the
same unit of work, identity map and validation as ``repository.add/get``.
It also backs a repository query's ``update``/``delete``/``raw``
(:class:`~archipel.core.queryset.QueryWrites`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from archipel.core.queryset import Criteria, QuerySet, ResultSet
from archipel.errors import (
    IncorrectUsageError,
    NotSupportedError,
    ObjectNotFound,
    ValidationError,
)
from archipel.utils import globals as _context
from archipel.utils.query import Q

if TYPE_CHECKING:
    from archipel.handling.repository import BaseRepository

__all__ = ["DataAccess"]

T = TypeVar("T")


class DataAccess(Generic[T]):
    """The DAO of one repository (``repository._dao``), as Protean names it.

    Reads: ``query``, ``get``, ``find_by``, ``exists(excludes_, **filters)``.
    Writes: ``create``, ``save``, ``update``, ``delete``, ``delete_all`` — in the
    active unit of work, or in one of their own when none is active (then
    committed at once, events dispatched). ``outside_uow()`` gives a DAO whose
    operations ignore the active unit of work.
    """

    def __init__(self, repository: BaseRepository[T], *, outside: bool = False) -> None:
        self._repository = repository
        self._outside = outside

    # -- where the work runs ----------------------------------------------------
    def outside_uow(self) -> DataAccess[T]:
        """A DAO working outside the active unit of work (reads see committed data
        only; each write commits on its own)."""
        return DataAccess(self._repository, outside=True)

    def _run(self, action: Any) -> Any:
        """``action()`` in the active unit of work, or in a unit of work of its own."""
        repository = self._repository
        if not self._outside and repository._uow() is not None:
            return action()
        token = _context.uow_var.set(None) if self._outside else None
        try:
            return repository.domain.run_in_unit_of_work(lambda _uow: action())
        finally:
            if token is not None:
                _context.uow_var.reset(token)

    def _detached(self, action: Any) -> Any:
        if not self._outside:
            return action()
        token = _context.uow_var.set(None)
        try:
            return action()
        finally:
            _context.uow_var.reset(token)

    # -- reads ------------------------------------------------------------------
    @property
    def query(self) -> QuerySet[T]:
        """A lazy query over the repository's records (see ``repository.query``)."""
        if not self._outside:
            return self._repository.query
        inner = self._repository.query
        return QuerySet(
            lambda criteria: self._detached(lambda: inner._runner(criteria)),
            inner._criteria,
            model=inner._model,
            writes=self,
        )

    def get(self, identifier: Any) -> T:
        """The object with this identity; ``ObjectNotFoundError`` when there is none."""
        return self._detached(lambda: self._repository.get(identifier))  # type: ignore[no-any-return]

    def find_by(self, **kwargs: Any) -> T:
        """The one object matching ``field=value`` pairs (``ObjectNotFoundError`` /
        ``TooManyObjectsError`` otherwise)."""
        return self._detached(lambda: self._repository.find_by(**kwargs))  # type: ignore[no-any-return]

    def exists(self, excludes_: dict[str, Any], **filters: Any) -> bool:
        """True when a record matches ``filters`` and not ``excludes_`` (a dict of
        lookups; ``{}`` for none), without building the objects' list twice."""
        if not isinstance(excludes_, dict):
            raise TypeError(
                f"exists() takes a dict of lookups to exclude first ({{}} for none), not "
                f"{type(excludes_).__name__}"
            )
        query = self.query.filter(**filters)
        if excludes_:
            query = query.exclude(**excludes_)
        return bool(query.limit(1).all().items)

    # -- writes -----------------------------------------------------------------
    def create(self, *args: Any, **kwargs: Any) -> T:
        """Build an object from a dict and/or field values, save it, return it."""
        obj = self._repository.cls(*args, **kwargs)
        self.save(obj)
        return obj  # type: ignore[no-any-return]

    def save(self, entity_obj: T) -> T:
        """Save ``entity_obj`` (new or changed): ``repository.add``."""
        return self._run(lambda: self._repository.add(entity_obj))  # type: ignore[no-any-return]

    def update(self, entity_obj: T, *data: dict[str, Any], **kwargs: Any) -> T:
        """Set field values on a stored object (dicts and keyword arguments) and save it.

        ``ObjectNotFoundError`` when the object was never stored: ``save`` creates.
        """
        values: dict[str, Any] = {}
        for chunk in data:
            values.update(chunk)
        values.update(kwargs)

        def change() -> T:
            identity = entity_obj.__dict__[self._repository._id_field]  # type: ignore[attr-defined]
            if self._repository.get_or_none(identity) is None:
                raise ObjectNotFound(
                    f"{type(entity_obj).__name__} with {self._repository._id_field}={identity!r} "
                    "does not exist: save() or repository.add() creates it"
                )
            self._assign(entity_obj, values)
            return self._repository.add(entity_obj)

        return self._run(change)  # type: ignore[no-any-return]

    def delete(self, entity_obj: T) -> T:
        """Delete ``entity_obj``; returns it."""
        self._run(lambda: self._repository.remove(entity_obj))
        return entity_obj

    def delete_all(self) -> None:
        """Delete every record of the repository's element, in one unit of work."""
        self.delete_each(list(self.query.limit(None).all().items))

    # -- a query's changes (QueryWrites) ------------------------------------------
    def update_each(self, items: list[Any], values: dict[str, Any]) -> int:
        """Set ``values`` on each of ``items``, save all in one unit of work; how many."""

        def change() -> int:
            for obj in items:
                self._assign(obj, values)
                self._repository.add(obj)
            return len(items)

        return self._run(change)  # type: ignore[no-any-return]

    def delete_each(self, items: list[Any]) -> int:
        """Delete each of ``items`` in one unit of work; how many."""

        def remove() -> int:
            for obj in items:
                self._repository.remove(obj)
            return len(items)

        return self._run(remove)  # type: ignore[no-any-return]

    def raw(self, query: Any, data: Any = None) -> ResultSet[Any]:
        """Run a database-specific query (see ``QuerySet.raw``); its rows as objects."""
        repository = self._repository
        if not isinstance(query, str):
            raise TypeError(f"raw() takes the query as text, not {type(query).__name__}")

        def run() -> ResultSet[Any]:
            tx = repository._read_tx()
            runner = getattr(tx, "raw", None)
            if runner is not None:
                if data is not None and not isinstance(data, dict):
                    raise TypeError(
                        f"raw() binds values from a dict of :name placeholders, not {type(data).__name__}"
                    )
                records = runner(repository.schema, query, data or {})
            elif hasattr(tx, "query"):
                records = self._memory_raw(tx, query, data)
            else:  # pragma: no cover - every bundled database has one of the two
                raise NotSupportedError(
                    f"database {repository.schema.database!r} runs no raw queries"
                )
            items = [repository._rebuild(r) for r in records]
            return ResultSet(items, len(items), 0, None)

        return self._detached(run)  # type: ignore[no-any-return]

    def _memory_raw(self, tx: Any, query: str, data: Any) -> list[dict[str, Any]]:
        if data is not None:
            raise NotSupportedError(
                "the memory database's raw() takes no data: put the values in the JSON"
            )
        try:
            lookups = json.loads(query)
        except ValueError as exc:
            raise ValidationError({"query": [f"is not JSON: {exc}"]}) from None
        if not isinstance(lookups, dict):
            raise ValidationError(
                {"query": ['must be a JSON object of lookups, e.g. {"age__gte": 18}']}
            )
        records, _ = tx.query(self._repository.schema, Criteria(Q(**lookups)))
        return records  # type: ignore[no-any-return]

    # -- helpers ----------------------------------------------------------------
    def _assign(self, obj: Any, values: dict[str, Any]) -> None:
        fields = getattr(type(obj), "_fields", {})
        unknown = [name for name in values if name not in fields]
        if unknown:
            raise IncorrectUsageError(
                f"{type(obj).__name__} has no field(s) {', '.join(sorted(unknown))}; "
                f"fields: {', '.join(fields)}"
            )
        id_field = self._repository._id_field
        if id_field in values and values[id_field] != obj.__dict__.get(id_field):
            raise IncorrectUsageError(
                f"update() cannot change {type(obj).__name__}'s identity ({id_field})"
            )
        for name, value in values.items():
            setattr(obj, name, value)
