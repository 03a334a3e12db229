"""Reads outside any unit of work: one statement each, on a pooled connection.

A repository read outside a unit of work needs no transaction: one
``SELECT`` in autocommit sees only committed transactions, each whole, and
costs one round trip (on PostgreSQL a read by identity is a prepared statement
run with one libpq call: :mod:`~archipel.adapters.sql.prepared`).
:class:`SqlReads` is that reader, one per database,
shared by every thread (it holds no state of its own). Inside a unit of
work, reads go through its :class:`~archipel.adapters.sql.transaction.SqlTransaction`
instead, which sees its own writes first; both run a query the same way
(:func:`query_records`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archipel.core.queryset import Criteria
from archipel.port.schema import ModelSchema

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase

__all__ = ["SqlReads", "query_records"]

#: ``read(sql, params, many)``: the rows (``many``) or the first row of one statement
Read = Callable[[str, Any, bool], Any]


def query_records(
    db: SqlDatabase, read: Read, schema: ModelSchema, criteria: Criteria
) -> tuple[list[dict[str, Any]], int]:
    """The records of ``schema`` matching ``criteria`` (one page) and the total match count.

    The page's statement carries the total (a window count) so one round
    trip serves both, unless the page is empty past an offset or
    ``criteria.limit`` is 0 (then a count statement runs).
    """
    table = db.record_table(schema)
    compiled = db.queries.compile(table, criteria)
    params = compiled.params(criteria.limit, criteria.offset or 0)
    if criteria.limit == 0:
        return [], int(read(compiled.count_sql, params, False)[0])
    rows = read(compiled.sql, params, True)
    if rows:
        total = int(rows[0][-1])
    elif criteria.offset:
        total = int(read(compiled.count_sql, params, False)[0])
    else:
        total = 0
    return [table.record(row) for row in rows], total


class SqlReads:
    """The reads of :class:`~archipel.port.dao.Transaction` (``get``, ``query``), outside any transaction.

    Each read is one statement on a pooled connection in autocommit
    (:meth:`~archipel.adapters.sql.engine.SqlEngine.fetch`): it sees every
    transaction committed before it started, and nothing of one still
    running. A pooled connection the server dropped (a restart) is replaced
    and the read run again.
    """

    __slots__ = ("db", "_fetch")

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self._fetch = db.engine.fetch

    def get(self, schema: ModelSchema, identity: Any) -> dict[str, Any] | None:
        """The stored record of ``identity`` (with ``_version``), or None."""
        table = self.db.record_table(schema)
        row = self._fetch(table.select_statement, (identity,), False)
        return None if row is None else table.record(row)

    def query(self, schema: ModelSchema, criteria: Criteria) -> tuple[list[dict[str, Any]], int]:
        """The matching records (one page) and the total count; see :func:`query_records`."""
        return query_records(self.db, self._fetch, schema, criteria)

    def raw(self, schema: ModelSchema, query: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The records of a developer's ``SELECT`` (see :func:`~archipel.adapters.sql.raw.raw_records`)."""
        from archipel.adapters.sql.raw import raw_records

        return raw_records(self.db, self.db.engine.run, schema, query, data)
