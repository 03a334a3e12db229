"""``QuerySet`` (a lazy, chainable query), ``ResultSet`` (one page of results) and
``Record`` (the read-only field selection ``QuerySet.only(...)`` yields)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from archipel.errors import NotSupportedError
from archipel.fields.composite import Association
from archipel.utils.query import Q

__all__ = ["Criteria", "QuerySet", "ReadOnlyQuerySet", "Record", "ResultSet"]

T = TypeVar("T")


class Criteria:
    """Everything a storage adapter needs to run one query."""

    __slots__ = ("q", "order_by", "limit", "offset")

    def __init__(
        self,
        q: Q | None = None,
        order_by: tuple[str, ...] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> None:
        self.q = q if q is not None else Q()
        self.order_by = order_by
        self.limit = limit
        self.offset = offset


class ResultSet(Generic[T]):
    """One page of query results: ``items`` plus the ``total`` of all matches."""

    def __init__(self, items: list[T], total: int, offset: int = 0, limit: int | None = None) -> None:
        self.items = items
        self.total = total
        self.offset = offset
        self.limit = limit

    @property
    def first(self) -> T | None:
        return self.items[0] if self.items else None

    @property
    def last(self) -> T | None:
        return self.items[-1] if self.items else None

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total

    @property
    def has_prev(self) -> bool:
        return self.offset > 0

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]

    def __repr__(self) -> str:
        return f"ResultSet(total={self.total}, items={len(self.items)})"


class QuerySet(Generic[T]):
    """A lazy query: ``filter``/``exclude``/``order_by``/``limit``/``offset``, then ``all()``.

    Every method returns a new QuerySet; nothing runs until ``all()``,
    iteration, ``first``, ``count()`` or indexing.
    """

    def __init__(
        self,
        runner: Callable[[Criteria], ResultSet[T]],
        criteria: Criteria | None = None,
        *,
        model: type | None = None,
        only: tuple[str, ...] | None = None,
    ) -> None:
        self._runner = runner
        self._criteria = criteria or Criteria()
        #: the element class queried (``only()`` checks field names against it)
        self._model = model
        self._only = only

    def _derive(self, **changes: Any) -> QuerySet[T]:
        c = self._criteria
        new = Criteria(
            changes.get("q", c.q),
            changes.get("order_by", c.order_by),
            changes.get("limit", c.limit),
            changes.get("offset", c.offset),
        )
        return type(self)(self._runner, new, model=self._model, only=changes.get("only", self._only))

    def only(self, *field_names: str) -> QuerySet[Any]:
        """Yield :class:`Record` objects holding only ``field_names`` (plus the identity).

        A Record is not an element: no behaviour, no invariants, never saved.
        Calling ``only()`` again replaces the selection; ``only()`` with no
        names restores whole elements. ``KeyError`` for a name that is not a
        field of the element, ``NotSupportedError`` for an association
        (``HasMany``, ``HasOne``, ``Reference``: not a stored value).
        """
        if not field_names:
            return self._derive(only=())
        names = list(dict.fromkeys(field_names))
        model = self._model
        if model is not None:
            fields = model._fields  # type: ignore[attr-defined]
            for name in names:
                if name not in fields:
                    raise KeyError(f"{model.__name__} has no field {name!r}")
                if isinstance(fields[name], Association):
                    raise NotSupportedError(
                        f"{model.__name__}.{name} is an association, not a stored value: only() "
                        "selects stored fields"
                    )
            id_field = getattr(model, "_id_field", None)
            if id_field and id_field not in names:
                names.insert(0, id_field)
        return self._derive(only=tuple(names))

    def filter(self, *args: Q, **kwargs: Any) -> QuerySet[T]:
        """Keep records matching all criteria (``Q`` objects and ``field__lookup=value``)."""
        return self._derive(q=self._criteria.q & Q(*args, **kwargs))

    def exclude(self, *args: Q, **kwargs: Any) -> QuerySet[T]:
        """Drop records matching the criteria."""
        return self._derive(q=self._criteria.q & ~Q(*args, **kwargs))

    def order_by(self, *fields: str) -> QuerySet[T]:
        """Sort by fields; ``"-name"`` sorts descending."""
        flat: list[str] = []
        for f in fields:
            flat.extend(f if isinstance(f, (list, tuple)) else [f])
        return self._derive(order_by=tuple(flat))

    def limit(self, count: int | None) -> QuerySet[T]:
        """Return at most ``count`` records (None: no limit)."""
        return self._derive(limit=count)

    def offset(self, count: int) -> QuerySet[T]:
        """Skip the first ``count`` matching records."""
        return self._derive(offset=count)

    def all(self) -> ResultSet[T]:
        """Run the query."""
        found = self._runner(self._criteria)
        if not self._only:
            return found
        names = self._only
        records = [
            Record(type(item).__name__, {name: getattr(item, name) for name in names})
            for item in found.items
        ]
        return ResultSet(records, found.total, found.offset, found.limit)  # type: ignore[arg-type]

    def count(self) -> int:
        """How many records match (ignores limit and offset)."""
        return self._runner(Criteria(self._criteria.q, (), 0, 0)).total

    @property
    def first(self) -> T | None:
        return self.limit(1).all().first

    def __iter__(self) -> Iterator[T]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())

    def __getitem__(self, index: int) -> T:
        return self.all().items[index]


class ReadOnlyQuerySet(QuerySet[T]):
    """A :class:`QuerySet` over a projection that refuses writes (``domain.view_for(P).query``).

    Reads (``filter``, ``exclude``, ``order_by``, ``limit``, ``offset``, ``all``,
    ``count``, ``first``) work as on a QuerySet and stay read-only; ``update``
    and ``delete`` raise :class:`~archipel.errors.NotSupportedError`: projections
    change through their projectors (or ``domain.repository_for``).
    """

    @classmethod
    def of(cls, queryset: QuerySet[T]) -> ReadOnlyQuerySet[T]:
        """The read-only twin of ``queryset`` (same records, same criteria)."""
        return cls(queryset._runner, queryset._criteria, model=queryset._model, only=queryset._only)

    def update(self, *data: Any, **kwargs: Any) -> int:
        """Refused: a read-only query does not change records."""
        raise NotSupportedError(_READ_ONLY.format(what="Updates"))

    def delete(self) -> int:
        """Refused: a read-only query does not delete records."""
        raise NotSupportedError(_READ_ONLY.format(what="Deletes"))

    update_all = update
    delete_all = delete


class Record:
    """A read-only selection of one result's fields (``QuerySet.only(...)``).

    Not an element: it carries values, nothing else (no behaviour, no
    invariants, never saved). Read a value as ``record.status`` or
    ``record["status"]``; a field that was not selected raises
    ``AttributeError``/``KeyError`` (never a silent None). Records compare by
    value and are not hashable; they cannot be changed.
    """

    __slots__ = ("_data", "_entity_name")
    __hash__ = None  # type: ignore[assignment]

    _entity_name: str
    _data: dict[str, Any]

    def __init__(self, entity_name: str, data: dict[str, Any]) -> None:
        object.__setattr__(self, "_entity_name", entity_name)
        object.__setattr__(self, "_data", dict(data))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(
                f"{name!r} was not selected for this {self._entity_name} record "
                f"(selected: {', '.join(self._data)})"
            ) from None

    def __getitem__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise KeyError(f"{name!r} was not selected for this {self._entity_name} record") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a {self._entity_name} record is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a {self._entity_name} record is read-only")

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return self._entity_name == other._entity_name and self._data == other._data

    def keys(self) -> list[str]:
        """The selected field names, in selection order."""
        return list(self._data)

    def to_dict(self) -> dict[str, Any]:
        """A copy of the selected values."""
        return dict(self._data)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self._data.items())
        return f"<Record {self._entity_name}({values})>"


_READ_ONLY = (
    "{what} are not allowed on a read-only query: use domain.repository_for(Projection) "
    "to change a projection's records"
)
