"""``QuerySet`` (a lazy, chainable query) and ``ResultSet`` (one page of results)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from archipel.errors import NotSupportedError
from archipel.utils.query import Q

__all__ = ["Criteria", "QuerySet", "ReadOnlyQuerySet", "ResultSet"]

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
    ) -> None:
        self._runner = runner
        self._criteria = criteria or Criteria()

    def _derive(self, **changes: Any) -> QuerySet[T]:
        c = self._criteria
        new = Criteria(
            changes.get("q", c.q),
            changes.get("order_by", c.order_by),
            changes.get("limit", c.limit),
            changes.get("offset", c.offset),
        )
        return type(self)(self._runner, new)

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
        return self._runner(self._criteria)

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
        return cls(queryset._runner, queryset._criteria)

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
