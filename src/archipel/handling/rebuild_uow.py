"""The unit of work of one batch of a projection rebuild.

It remembers the rows the rebuild wrote (a projector's ``repository.get``
of one is answered from memory) and answers a read of a row it never wrote
"none" without a query (the table was emptied when the rebuild began); any
other use of the database first waits for the batch being written behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archipel.handling.unit_of_work import UnitOfWork
from archipel.port.schema import ModelSchema

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = ["KNOWN_ROWS_LIMIT", "RebuildUnitOfWork"]

#: rows a rebuild remembers to answer reads without the database; beyond, it reads
KNOWN_ROWS_LIMIT = 500_000


class RebuildUnitOfWork(UnitOfWork):
    """One batch of a rebuild: remembers the rows it wrote, answers misses without reading."""

    __slots__ = ("known", "projection", "settle", "table_complete")

    def __init__(
        self,
        domain: DomainLike,
        projection: Any,
        known: dict[Any, Any],
        complete: bool,
        settle: Callable[[], None],
    ) -> None:
        super().__init__(domain, None)
        self.projection = projection
        #: identity -> row object, for every row the rebuild wrote so far
        self.known = known
        #: ``known`` holds every row of the table (it was emptied first)
        self.table_complete = complete
        #: waits for the previous batch's write (before anything reads the database)
        self.settle = settle

    def tracked(self, cls: type, identity: Any) -> Any:
        found = super().tracked(cls, identity)
        if found is None and cls is self.projection:
            found = self.known.get(identity)
        return found

    def transaction(self, database: str = "default") -> Any:
        return _Reads(super().transaction(database), self)

    def delete(self, schema: Any, identity: Any) -> None:
        super().delete(schema, identity)
        if schema.cls is self.projection:
            self.known.pop(identity, None)


class _Reads:
    """A transaction whose reads of rows the rebuild never wrote answer "none" at once,
    and whose other uses wait for the previous batch's write first."""

    __slots__ = ("_tx", "_uow")

    def __init__(self, tx: Any, uow: RebuildUnitOfWork) -> None:
        self._tx = tx
        self._uow = uow

    def get(self, schema: ModelSchema, identity: Any) -> dict[str, Any] | None:
        uow = self._uow
        if schema.cls is uow.projection and uow.table_complete and identity not in uow.known:
            return None
        uow.settle()
        return self._tx.get(schema, identity)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        self._uow.settle()
        return getattr(self._tx, name)
