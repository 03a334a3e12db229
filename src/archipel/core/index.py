"""Index declarations (Protean's ``protean.core.index``): ``Index``, ``RawIndex``.

``Index("email", unique=True)`` describes a database index over fields of
an aggregate or projection. The class is the value users write; which
options of an element accept it (and what an adapter does with it) is
decided by the element options, which refuse anything they do not apply
(never silently ignored).

``@domain.aggregate(indexes=[...])`` and ``@domain.projection(indexes=[...])``
take them; ``database setup`` creates them on SQL databases (unique ones are
enforced there; ``where=Q(...)`` makes a partial index; ``include`` is
PostgreSQL's covering columns). The memory database, as Protean's, enforces the
unique ones that have no ``where`` (a ``ValidationError`` under the fields joined by
``_``) and keeps no other.

``Index.from_sql("postgresql", "CREATE INDEX ... USING gin (...)")`` (a
:class:`RawIndex`) is verbatim DDL for one dialect: run when the table is created on
a database of that dialect (and rendered by ``schema render --indexes``), left out on
the others, as in Protean. Its dialect must be one Protean renders
(:data:`RENDERED_INDEX_DIALECTS`); archipel's databases are PostgreSQL and SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archipel.errors import ConfigurationError, IncorrectUsageError

__all__ = ["RENDERED_INDEX_DIALECTS", "Index", "RawIndex"]

#: the dialects a :class:`RawIndex` may name (Protean's; archipel stores in the first two)
RENDERED_INDEX_DIALECTS = frozenset({"postgresql", "sqlite", "mssql", "mysql", "mariadb"})


@dataclass(frozen=True, init=False)
class Index:
    """An index over ``fields`` (in order): optionally ``unique``, named, partial (``where``)."""

    fields: tuple[str, ...]
    name: str | None = None
    unique: bool = False
    desc: tuple[str, ...] = ()
    where: Any = None
    include: tuple[str, ...] = field(default=())

    def __init__(
        self,
        *fields: str,
        name: str | None = None,
        unique: bool = False,
        desc: tuple[str, ...] | list[str] = (),
        where: Any = None,
        include: tuple[str, ...] | list[str] = (),
    ) -> None:
        if not fields or not all(isinstance(f, str) and f for f in fields):
            raise IncorrectUsageError("Index(...) needs one or more field names, e.g. Index(\"email\", unique=True)")
        unknown = set(desc) - set(fields)
        if unknown:
            raise IncorrectUsageError(f"Index desc= names fields that are not indexed: {sorted(unknown)}")
        object.__setattr__(self, "fields", tuple(fields))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "unique", bool(unique))
        object.__setattr__(self, "desc", tuple(desc))
        object.__setattr__(self, "where", where)
        object.__setattr__(self, "include", tuple(include))

    @classmethod
    def from_sql(cls, dialect: str, ddl: str, name: str | None = None) -> RawIndex:
        """Verbatim ``CREATE INDEX`` DDL for one ``dialect`` (what ``Index`` cannot say:
        GIN, expressions, ...); see the module docstring."""
        return RawIndex(dialect=dialect, ddl=ddl, name=name)

    def check(self, owner: str, known: Any) -> None:
        """Raise ConfigurationError unless every named field is one of ``known``."""
        names = set(known)
        missing = [f for f in (*self.fields, *self.include) if f not in names]
        if missing:
            raise ConfigurationError(
                f"{owner}: Index{self.fields} names unknown field(s) {', '.join(missing)}; "
                f"fields: {', '.join(sorted(names))}"
            )


@dataclass(frozen=True)
class RawIndex:
    """Verbatim index DDL for one dialect (made by :meth:`Index.from_sql`)."""

    dialect: str
    ddl: str
    name: str | None = None

    def check(self, owner: str, known: Any) -> None:
        """Raise ConfigurationError unless the dialect is one of
        :data:`RENDERED_INDEX_DIALECTS` and the DDL is a non-empty string (the DDL itself
        is not read)."""
        if self.dialect not in RENDERED_INDEX_DIALECTS:
            raise ConfigurationError(
                f"{owner}: RawIndex {self.name or self.ddl!r} targets unknown dialect {self.dialect!r}; "
                f"dialects: {', '.join(sorted(RENDERED_INDEX_DIALECTS))}"
            )
        if not isinstance(self.ddl, str) or not self.ddl.strip():
            raise ConfigurationError(f"{owner}: RawIndex for {self.dialect} needs its DDL, got {self.ddl!r}")
