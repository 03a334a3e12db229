"""``QuerySet`` (a lazy, chainable query) and ``ResultSet`` (one page of results).

``Record`` (the read-only selection ``QuerySet.only(...)`` yields) lives in
:mod:`archipel.core.record` and is re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from archipel.core.query_names import check_criteria
from archipel.core.record import Record
from archipel.errors import NotSupportedError
from archipel.fields.association import Association
from archipel.utils.query import Q

__all__ = ["Criteria", "QuerySet", "QueryWrites", "ReadOnlyQuerySet", "Record", "ResultSet"]

T = TypeVar("T")

#: how many records a query returns when neither the element (``limit=`` option) nor
#: the query (``.limit()``) says otherwise: Protean's default
DEFAULT_LIMIT = 100


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
    """One page of query results: ``items`` plus the ``total`` of all matches.

    ``offset`` and ``limit`` are the page's (``limit`` None: no limit). As in
    Protean: ``page`` is 1-based, ``page_size`` is ``limit``, ``total_pages`` is
    0 with no results and 1 without a limit.
    """

    def __init__(
        self, items: list[T], total: int, offset: int = 0, limit: int | None = None
    ) -> None:
        self.items = items
        self.total = total
        self.offset = offset
        self.limit = limit

    @property
    def first(self) -> T | None:
        """The first item of the page, or None."""
        return self.items[0] if self.items else None

    @property
    def last(self) -> T | None:
        """The last item of the page, or None."""
        return self.items[-1] if self.items else None

    @property
    def has_next(self) -> bool:
        """True when matches remain after this page."""
        return self.offset + len(self.items) < self.total

    @property
    def has_prev(self) -> bool:
        """True when this page has items and does not start at the first match."""
        return bool(self.items) and self.offset > 0

    @property
    def page(self) -> int:
        """The page's number, from 1 (1 without a limit)."""
        return self.offset // self.limit + 1 if self.limit else 1

    @property
    def page_size(self) -> int | None:
        """Items per page: ``limit`` (None: unlimited)."""
        return self.limit

    @property
    def total_pages(self) -> int:
        """Pages of ``limit`` items all matches fill (0 with none, 1 without a limit)."""
        if self.total == 0:
            return 0
        return math.ceil(self.total / self.limit) if self.limit else 1

    def to_dict(self) -> dict[str, Any]:
        """The page as a dict (Protean's keys): offset, limit, total, page, page_size,
        total_pages, has_next, has_prev and items (the objects themselves)."""
        return {
            "offset": self.offset,
            "limit": self.limit,
            "total": self.total,
            "page": self.page,
            "page_size": self.page_size,
            "total_pages": self.total_pages,
            "has_next": self.has_next,
            "has_prev": self.has_prev,
            "items": self.items,
        }

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]

    def __repr__(self) -> str:
        return f"<ResultSet: {len(self.items)} items>"


class QueryWrites(Protocol):
    """What a :class:`QuerySet` over a repository can change (``update``, ``delete``, ``raw``)."""

    def update_each(self, items: list[Any], values: dict[str, Any]) -> int:
        """Set ``values`` on each of ``items`` and save them together; how many."""
        ...

    def delete_each(self, items: list[Any]) -> int:
        """Delete each of ``items`` together; how many."""
        ...

    def raw(self, query: Any, data: Any = None) -> ResultSet[Any]:
        """Run a database-specific query; its results as elements."""
        ...


class QuerySet(Generic[T]):
    """A lazy query: ``filter``/``exclude``/``order_by``/``limit``/``offset``, then ``all()``.

    Every method returns a new QuerySet; nothing runs until ``all()``,
    iteration, ``first``, ``count()``, indexing or one of the result
    properties (``total``, ``items``, ``last``, ``has_next``, ``has_prev``,
    ``page``, ``page_size``, ``total_pages``): the first of those runs the
    query and the others read the same results; ``all()`` runs it again.
    A repository's query returns at most the element's ``limit`` (option,
    Protean's default 100) unless ``.limit()`` says otherwise.
    """

    def __init__(
        self,
        runner: Callable[[Criteria], ResultSet[T]],
        criteria: Criteria | None = None,
        *,
        model: type | None = None,
        only: tuple[str, ...] | None = None,
        writes: QueryWrites | None = None,
    ) -> None:
        self._runner = runner
        self._criteria = criteria or Criteria()
        #: the element class queried (``only()`` checks field names against it)
        self._model = model
        self._only = only
        self._writes = writes
        self._result: ResultSet[T] | None = None

    def _derive(self, **changes: Any) -> QuerySet[T]:
        c = self._criteria
        new = Criteria(
            changes.get("q", c.q),
            changes.get("order_by", c.order_by),
            changes.get("limit", c.limit),
            changes.get("offset", c.offset),
        )
        return type(self)(
            self._runner,
            new,
            model=self._model,
            only=changes.get("only", self._only),
            writes=self._writes,
        )

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
        """Keep records matching all criteria (``Q`` objects and ``field__lookup=value``).

        A name that is no field of the element is an ``IncorrectUsageError``, an
        unknown lookup (``name__bogus``) a ``NotSupportedError``: never an empty result.
        """
        q = Q(*args, **kwargs)
        check_criteria(self._model, q)
        return self._derive(q=self._criteria.q & q)

    def exclude(self, *args: Q, **kwargs: Any) -> QuerySet[T]:
        """Drop records matching the criteria (checked as :meth:`filter` checks them)."""
        q = Q(*args, **kwargs)
        check_criteria(self._model, q)
        return self._derive(q=self._criteria.q & ~q)

    def order_by(self, *fields: str) -> QuerySet[T]:
        """Sort by fields; ``"-name"`` sorts descending."""
        flat: list[str] = []
        for f in fields:
            flat.extend(f if isinstance(f, (list, tuple)) else [f])
        check_criteria(self._model, Q(), tuple(flat))
        return self._derive(order_by=tuple(flat))

    def limit(self, count: int | None) -> QuerySet[T]:
        """Return at most ``count`` records (None: no limit)."""
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 0
        ):
            raise ValueError(f"limit takes a whole number >= 0 or None, not {count!r}")
        return self._derive(limit=count)

    def offset(self, count: int) -> QuerySet[T]:
        """Skip the first ``count`` matching records."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"offset takes a whole number >= 0, not {count!r}")
        return self._derive(offset=count)

    def all(self, with_total: bool = True) -> ResultSet[T]:
        """Run the query (again): one page of results and the total of all matches.

        ``with_total`` is Protean's; the total is always counted here.
        """
        found = self._runner(self._criteria)
        if self._only:
            names = self._only
            records = [
                Record(type(item).__name__, {name: getattr(item, name) for name in names})
                for item in found.items
            ]
            found = ResultSet(records, found.total, found.offset, found.limit)  # type: ignore[arg-type]
        self._result = found
        return found

    def _results(self) -> ResultSet[T]:
        found = self._result
        return found if found is not None else self.all()

    def count(self) -> int:
        """How many records match (ignores limit and offset)."""
        return self._runner(Criteria(self._criteria.q, (), 0, 0)).total

    @property
    def first(self) -> T | None:
        """The first matching record, or None (runs a query of one)."""
        return self.limit(1).all().first

    @property
    def total(self) -> int:
        """How many records match in all (see the class docstring on evaluation)."""
        return self._results().total

    @property
    def items(self) -> list[T]:
        """The page of results."""
        return self._results().items

    @property
    def last(self) -> T | None:
        """The last record of the page, or None."""
        return self._results().last

    @property
    def has_next(self) -> bool:
        """True when matches remain after this page."""
        return self._results().has_next

    @property
    def has_prev(self) -> bool:
        """True when the page has items and does not start at the first match."""
        return self._results().has_prev

    @property
    def page(self) -> int:
        """The page's number, from 1."""
        return self._results().page

    @property
    def page_size(self) -> int | None:
        """The limit (None: unlimited)."""
        return self._results().page_size

    @property
    def total_pages(self) -> int:
        """Pages of ``limit`` records all matches fill."""
        return self._results().total_pages

    # -- changes (a repository's query only) ---------------------------------------
    def _changes(self, action: str) -> QueryWrites:
        if self._only:
            raise NotSupportedError(
                f"{action}() cannot follow only(): a selection yields read-only records; "
                f"call only() with no names to {action} elements"
            )
        writes = self._writes
        if writes is None:
            raise NotSupportedError(
                f"this query cannot {action} records (it is not a repository's)"
            )
        return writes

    def update(self, *data: dict[str, Any], **kwargs: Any) -> int:
        """Set field values on every record this query returns, and save them.

        Values come from dicts in ``data`` and from ``kwargs`` (later wins). Each
        object is loaded and changed through its fields (validation and
        invariants run), and all are saved in one unit of work (the active one,
        or one of their own): all or none. The query's limit applies, as to
        ``all()`` (``.limit(None)`` to change every match). Returns how many.
        """
        writes = self._changes("update")
        values: dict[str, Any] = {}
        for chunk in data:
            if not isinstance(chunk, dict):
                raise TypeError(
                    f"update() takes dicts and keyword arguments, not {type(chunk).__name__}"
                )
            values.update(chunk)
        values.update(kwargs)
        return writes.update_each(list(self.all().items), values)

    def delete(self) -> int:
        """Delete every record this query returns (its limit applies), in one unit
        of work; returns how many. Nothing matched is not an error."""
        writes = self._changes("delete")
        return writes.delete_each(list(self.all().items))

    def raw(self, query: Any, data: Any = None) -> ResultSet[T]:
        """Run a database-specific query and return its results as elements.

        SQL databases: ``query`` is a ``SELECT`` over the element's table, with
        ``:name`` placeholders bound from the dict ``data`` (values are never
        spliced into the text); memory: a JSON object of lookups
        (``'{"name": "John", "age__gte": 18}'``). This query's filters, order,
        limit and offset do not apply.
        """
        return self._changes("raw").raw(query, data)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[T]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self.all())

    def __getitem__(self, index: int) -> T:
        return self.all().items[index]

    def __repr__(self) -> str:
        model = self._model.__name__ if self._model is not None else "?"
        c = self._criteria
        return f"<QuerySet of {model}: {c.q!r}, order_by={c.order_by}, offset={c.offset}, limit={c.limit}>"


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
        return cls(
            queryset._runner,
            queryset._criteria,
            model=queryset._model,
            only=queryset._only,
            writes=queryset._writes,  # for raw(), a read; update/delete are refused below
        )

    def update(self, *data: Any, **kwargs: Any) -> int:
        """Refused: a read-only query does not change records."""
        raise NotSupportedError(_READ_ONLY.format(what="Updates"))

    def delete(self) -> int:
        """Refused: a read-only query does not delete records."""
        raise NotSupportedError(_READ_ONLY.format(what="Deletes"))

    update_all = update
    delete_all = delete


_READ_ONLY = (
    "{what} are not allowed on a read-only query: use domain.repository_for(Projection) "
    "to change a projection's records"
)
