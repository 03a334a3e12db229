"""Sending a transaction's buffered writes (the part of :class:`SqlTransaction` that writes).

Statement by statement, in this order: processed-message records, record
writes (runs of new rows of one table in one statement), events (multi-row
inserts) and outbox rows. A unique violation is explained as the archipel
error of the write that caused it (:meth:`WriteFlush.explain_integrity`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.processed import send_processed
from archipel.adapters.sql.records import EXPECTED_PARAM, PK_PARAM, RecordTable
from archipel.adapters.sql.writes import (
    DELETE,
    PendingWrite,
    conflict,
    same_insert,
    unique_violation,
)
from archipel.port.conflicts import unique_conflict, unique_value

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase
    from archipel.adapters.sql.engine import SqlEngine
    from archipel.adapters.sql.event_store import SqlEventStore

__all__ = ["WriteFlush"]


class WriteFlush:
    """Mixed into :class:`~archipel.adapters.sql.transaction.SqlTransaction`, which owns the state."""

    __slots__ = ()

    db: SqlDatabase
    engine: SqlEngine
    _writes: dict[tuple[str, Any], PendingWrite]
    _flushed: dict[tuple[str, Any], tuple[int, int]]
    _events: list[tuple[SqlEventStore, list[Any]]]
    _outbox: list[dict[str, Any]]
    _processed: list[tuple[str, str]]
    _after_commit: list[tuple[Any, int, int]]
    _conn: Any

    def _send(self, conn: Any) -> None:
        cursor = conn.cursor()
        try:
            if self._processed:
                send_processed(self.db, cursor, self._processed)
                self._processed.clear()
            if self._writes:
                self._send_writes(cursor)
            for store, messages in self._events:
                self._after_commit.extend(store.insert(cursor, messages))
            self._events.clear()
            if self._outbox:
                self.db.outbox().insert(cursor, self._outbox)
                self._outbox.clear()
        finally:
            cursor.close()

    def _send_writes(self, cursor: Any) -> None:
        if len(self._writes) == 1:  # a command's usual write: its aggregate
            ((key, write),) = self._writes.items()
            self._send_write(cursor, key, write)
            self._writes.clear()
            return
        writes = list(self._writes.items())
        index = 0
        while index < len(writes):
            key, write = writes[index]
            end = index + 1
            # a unique column other than the identity could not tell whose row broke it
            if write.guard == -1 and write.record is not DELETE and not write.table.unique_columns:
                while end < len(writes) and same_insert(writes[end][1], write):
                    end += 1
            if end - index > 1:
                self._insert_many(cursor, writes[index:end])
            else:
                self._send_write(cursor, key, write)
            index = end
        self._writes.clear()

    def _insert_many(self, cursor: Any, run: list[tuple[Any, PendingWrite]]) -> None:
        """New rows of one table: on PostgreSQL one ``INSERT ... SELECT FROM unnest``
        of column arrays (a statement per row costs more than the row), on SQLite
        one ``executemany`` (a C loop)."""
        table = run[0][1].table
        try:
            if self.engine.is_postgres and len(run) > 1:
                cursor.execute(table.unnest_insert_sql, table.unnest_binds(
                    [w.record for _, w in run], [w.expected + 1 for _, w in run]))
            else:
                row = table.insert_row
                cursor.executemany(table.insert_sql, [row(w.record, w.expected + 1) for _, w in run])
        except Exception as exc:
            for _, write in run:  # whose row was it? (rows before it may be in, uncommitted)
                self.explain_integrity(exc, write, only=table.name, committed=True)
            raise
        for key, write in run:
            self._flushed[key] = (write.expected, write.expected + 1)

    def _send_write(self, cursor: Any, key: Any, write: PendingWrite) -> None:
        table = write.table
        if write.record is DELETE:
            cursor.execute(table.delete_sql, {PK_PARAM: write.identity})
            self._flushed.pop(key, None)
            return
        version = write.expected + 1
        if write.guard == -1:
            try:
                cursor.execute(table.insert_sql, table.insert_row(write.record, version))
            except Exception as exc:
                self._integrity(exc, write)
                raise
        else:
            params = table.params(write.record, version)
            params[PK_PARAM] = write.identity
            params[EXPECTED_PARAM] = write.guard
            try:
                cursor.execute(table.update_sql, table.update_args(params))
            except Exception as exc:
                self._integrity(exc, write)
                raise
            if cursor.rowcount != 1:
                cursor.execute(table.version_sql, {PK_PARAM: write.identity})
                row = cursor.fetchone()
                raise conflict(write, -1 if row is None else int(row[0]))
        self._flushed[key] = (write.expected, version)

    def _integrity(self, exc: Exception, write: PendingWrite) -> None:
        self.explain_integrity(exc, write)

    def explain_integrity(
        self, exc: BaseException, write: Any, only: str | None = None, committed: bool = False
    ) -> None:
        """Raise the archipel error if ``exc`` is a unique violation caused by ``write``.

        With ``only`` (several writes shared the failed statement), a violation of
        another table's constraint, or of the identity when ``write``'s identity is
        free, is not this write's: nothing is raised.
        """
        constraint = unique_violation(exc)
        if constraint is None:
            return
        table = write.table
        pk_sqlite = f"{table.name}.{table.id_field}"
        if only is not None:
            ours = {table.pk_constraint, pk_sqlite, *table.unique_columns}
            if constraint not in ours and not constraint.startswith(f"{table.name}."):
                return
            if constraint in (table.pk_constraint, pk_sqlite) and not self._exists(
                table, write.identity, committed
            ):
                return
        if constraint in (table.pk_constraint, pk_sqlite):
            raise conflict(write, None) from exc
        if write.guard == -1 and self._exists(table, write.identity):
            # the identity conflicts too: that is the error the reference reports
            raise conflict(write, None) from exc
        key = table.unique_columns.get(constraint)
        if key is None and constraint.startswith(f"{table.name}."):
            key = constraint.split(".", 1)[1]
        key = key or "_entity"
        value = unique_value(write.record, key) if isinstance(write.record, dict) else None
        raise unique_conflict(table.schema.cls.__name__, key, value) from exc

    def _exists(self, table: RecordTable, identity: Any, committed: bool = False) -> bool:
        """Whether ``identity`` is stored (``committed``: outside this transaction's own writes)."""
        params = {PK_PARAM: identity}
        if not committed and not self.engine.is_postgres and self._conn is not None:
            # a failed statement does not end a SQLite transaction
            return self._conn.execute(table.version_sql, params).fetchone() is not None
        # a PostgreSQL transaction is aborted by the error: ask on another connection
        return (
            self.engine.run(lambda conn: conn.execute(table.version_sql, params).fetchone())
            is not None
        )
