"""``Index``: a declared database index of an aggregate or projection.

``@domain.aggregate(indexes=[Index("status", "priority", desc=("priority",)),
Index("email", unique=True), Index("status", where=Q(status="open"))])``.
``database setup`` (``domain.setup_database()``) creates them on SQL
databases; ``unique=True`` is enforced there (a duplicate is an error at
commit). The memory database keeps no indexes (it scans); its ``unique``
enforcement is per field (``unique=True`` on the field).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from archipel.errors import ConfigurationError

__all__ = ["Index"]


class Index:
    """One index: ``fields`` in order, optionally ``unique``, descending, partial or covering.

    ``desc``: fields (among ``fields``) indexed in descending order.
    ``where``: a ``Q`` for a partial index (PostgreSQL and SQLite).
    ``include``: covering columns (PostgreSQL; other databases build the index without them).
    ``name``: defaults to ``ix_<table>_<fields>``.
    """

    __slots__ = ("fields", "name", "unique", "desc", "where", "include")

    def __init__(
        self,
        *fields: str,
        name: str | None = None,
        unique: bool = False,
        desc: Iterable[str] = (),
        where: Any = None,
        include: Iterable[str] = (),
    ) -> None:
        if not fields or not all(isinstance(f, str) and f for f in fields):
            raise ConfigurationError(f"Index() takes one or more field names, got {fields!r}")
        self.fields = tuple(fields)
        self.name = name
        self.unique = bool(unique)
        self.desc = tuple(desc)
        self.where = where
        self.include = tuple(include)
        stray = [f for f in self.desc if f not in self.fields]
        if stray:
            raise ConfigurationError(f"Index{self.fields}: desc={stray} names fields not in the index")

    def check(self, owner: str, known: Iterable[str]) -> None:
        """Raise ConfigurationError unless every named field is one of ``known``."""
        names = set(known)
        missing = [f for f in (*self.fields, *self.include) if f not in names]
        if missing:
            raise ConfigurationError(
                f"{owner}: Index{self.fields} names unknown field(s) {', '.join(missing)}; "
                f"fields: {', '.join(sorted(names))}"
            )

    def __repr__(self) -> str:
        return f"Index{self.fields}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Index):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__ if s != "where") and repr(
            self.where
        ) == repr(other.where)

    def __hash__(self) -> int:
        return hash((self.fields, self.name, self.unique))
