"""Index declarations (Protean's ``protean.core.index``): ``Index``.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archipel.errors import ConfigurationError, IncorrectUsageError

__all__ = ["Index"]


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

    def check(self, owner: str, known: Any) -> None:
        """Raise ConfigurationError unless every named field is one of ``known``."""
        names = set(known)
        missing = [f for f in (*self.fields, *self.include) if f not in names]
        if missing:
            raise ConfigurationError(
                f"{owner}: Index{self.fields} names unknown field(s) {', '.join(missing)}; "
                f"fields: {', '.join(sorted(names))}"
            )
