"""``ReadView``: read-only access to one projection (``domain.view_for(Projection)``).

Protean's ``protean.core.view``. A view exposes ``get``, ``find_by``, ``count``,
``exists`` and ``query`` (a :class:`~archipel.core.queryset.ReadOnlyQuerySet`),
and nothing that writes: in CQRS, projections change only through their
projectors.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from archipel.core.queryset import QuerySet, ReadOnlyQuerySet
from archipel.errors import ObjectNotFoundError

__all__ = ["ReadView"]

P = TypeVar("P")


class _Reads(Protocol[P]):
    """The reads of a repository a view uses."""

    @property
    def query(self) -> QuerySet[P]: ...

    def get(self, identity: Any) -> P: ...

    def find_by(self, **kwargs: Any) -> P: ...

    def count(self) -> int: ...


class ReadView(Generic[P]):
    """Read-only facade over the records of ``projection_cls``."""

    def __init__(self, projection_cls: type[P], repository: _Reads[P]) -> None:
        self._projection_cls = projection_cls
        self._repository = repository

    @property
    def query(self) -> ReadOnlyQuerySet[P]:
        """A lazy read-only query over every record (``.filter(...).order_by(...).all()``)."""
        return ReadOnlyQuerySet.of(self._repository.query)

    def get(self, identifier: Any) -> P:
        """The record with ``identifier``; ``ObjectNotFoundError`` if none."""
        return self._repository.get(identifier)

    def find_by(self, **kwargs: Any) -> P:
        """The one record matching ``field=value`` pairs (``ObjectNotFoundError`` /
        ``TooManyObjectsError`` otherwise)."""
        return self._repository.find_by(**kwargs)

    def count(self) -> int:
        """How many records the projection holds."""
        return self._repository.count()

    def exists(self, identifier: Any) -> bool:
        """Whether a record with ``identifier`` exists."""
        try:
            self._repository.get(identifier)
        except ObjectNotFoundError:
            return False
        return True

    def __repr__(self) -> str:
        return f"<ReadView {self._projection_cls.__name__}>"
