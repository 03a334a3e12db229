"""One database transaction per unit of work, written at commit.

Writes (``save``, ``delete``, outbox rows, processed-message records and
the events an event store appends with this transaction) are buffered and
sent at :meth:`SqlTransaction.commit` in one database transaction: ``BEGIN``,
one statement per kind (events in multi-row inserts), ``COMMIT``. The
connection is held only for that moment, so no transaction stays open
while handler code runs; on PostgreSQL that matters twice, since an open
writing transaction holds back gap-free event readers. A transaction that
is a single statement runs without ``BEGIN``/``COMMIT`` (a statement is
atomic), and on PostgreSQL a transaction of several writes is sent as one
statement too (:mod:`archipel.adapters.sql.combined`): one round trip per
unit of work.

Reads before any write run as single statements on a pooled connection;
after a write was sent (a ``query`` sends pending writes first) they run in
the open transaction, so a transaction reads its own writes. Conflicts are
detected where the database decides them: an ``INSERT`` of an existing
identity or an ``UPDATE ... WHERE _version = :expected`` matching no row
raises :class:`~archipel.errors.ExpectedVersionError`, and nothing of the
transaction is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.engine import cursor_of, dumps, loads
from archipel.adapters.sql.records import EXPECTED_PARAM, PK_PARAM, RecordTable
from archipel.adapters.sql.wakeup import OUTBOX, announce
from archipel.core.queryset import Criteria
from archipel.errors import (
    ArchipelError,
    DuplicateMessageError,
    ExpectedVersionError,
    ValidationError,
)
from archipel.port.schema import ModelSchema

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase
    from archipel.adapters.sql.event_store import SqlEventStore

__all__ = ["SqlTransaction", "unique_violation"]

_DELETE = object()
#: ids per query of :meth:`SqlTransaction.mark_processed_many` (SQLite allows 999 parameters)
_PROCESSED_CHUNK = 500


def unique_violation(exc: BaseException) -> str | None:
    """The constraint (PostgreSQL) or ``table.column`` list (SQLite) a unique violation names."""
    original = getattr(exc, "orig", None) or exc
    state = getattr(original, "sqlstate", None)
    if state == "23505":
        diag = getattr(original, "diag", None)
        return str(getattr(diag, "constraint_name", "") or "")
    if type(original).__name__ == "IntegrityError" and "UNIQUE constraint failed" in str(original):
        return str(original).split("UNIQUE constraint failed:", 1)[1].strip()
    return None


class _Write:
    """One buffered record write: INSERT when ``guard`` is -1, else UPDATE guarded by it."""

    __slots__ = ("table", "identity", "record", "expected", "guard")

    def __init__(
        self, table: RecordTable, identity: Any, record: Any, expected: int, guard: int
    ) -> None:
        self.table = table
        self.identity = identity
        self.record = record
        self.expected = expected
        self.guard = guard


class SqlTransaction:
    """A unit of work's transaction on a :class:`SqlDatabase` (see the module docstring)."""

    __slots__ = (
        "db",
        "engine",
        "_writes",
        "_flushed",
        "_events",
        "_outbox",
        "_processed",
        "_fairy",
        "_conn",
        "_done",
        "_after_commit",
        "_relayable",
    )

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self.engine = db.engine
        self._writes: dict[tuple[str, Any], _Write] = {}
        # versions written by an earlier flush of this transaction: key -> (expected, stored)
        self._flushed: dict[tuple[str, Any], tuple[int, int]] = {}
        self._events: list[tuple[SqlEventStore, list[Any]]] = []
        self._outbox: list[dict[str, Any]] = []
        self._processed: list[tuple[str, str]] = []
        self._fairy: Any = None
        self._conn: Any = None
        self._done = False
        self._after_commit: list[tuple[Any, int, int]] = []
        #: outbox rows were written: the relay is woken after the commit
        self._relayable = False

    # -- reads --------------------------------------------------------------------
    def _read(self, sql: str, params: dict[str, Any], many: bool) -> Any:
        if self._conn is not None:
            try:
                cursor = self._conn.execute(sql, params)
                return cursor.fetchall() if many else cursor.fetchone()
            except Exception as exc:
                raise self.engine.translate(exc) from exc

        def read(conn: Any) -> Any:
            cursor = cursor_of(conn)
            cursor.execute(sql, params)
            return cursor.fetchall() if many else cursor.fetchone()

        return self.engine.run(read)

    def get(self, schema: ModelSchema, identity: Any) -> dict[str, Any] | None:
        key = (schema.table, identity)
        pending = self._writes.get(key)
        if pending is not None:
            if pending.record is _DELETE:
                return None
            found: dict[str, Any] = loads(dumps(pending.record))
            found["_version"] = pending.expected + 1
            return found
        table = self.db.record_table(schema)
        row = self._read(table.select_sql, {PK_PARAM: identity}, False)
        return None if row is None else table.record(row)

    def query(self, schema: ModelSchema, criteria: Criteria) -> tuple[list[dict[str, Any]], int]:
        table = self.db.record_table(schema)
        if self._writes or self._events or self._outbox or self._processed:
            self._flush()
        compiled = self.db.queries.compile(table, criteria)
        params = compiled.params(criteria.limit, criteria.offset or 0)
        if criteria.limit == 0:
            return [], int(self._read(compiled.count_sql, params, False)[0])
        rows = self._read(compiled.sql, params, True)
        if rows:
            total = int(rows[0][-1])
        elif criteria.offset:
            total = int(self._read(compiled.count_sql, params, False)[0])
        else:
            total = 0
        return [table.record(row) for row in rows], total

    # -- writes (buffered) ----------------------------------------------------------
    def save(self, schema: ModelSchema, record: dict[str, Any], expected_version: int) -> None:
        table = self.db.record_table(schema)
        identity = record[schema.id_field]
        key = (schema.table, identity)
        guard = expected_version
        flushed = self._flushed.get(key)
        if flushed is not None and flushed[0] == expected_version:
            # saved again after an early flush: the row already holds expected + 1
            guard = flushed[1]
        self._writes[key] = _Write(table, identity, record, expected_version, guard)

    def delete(self, schema: ModelSchema, identity: Any) -> bool:
        exists = self.get(schema, identity) is not None
        self._writes[(schema.table, identity)] = _Write(
            self.db.record_table(schema), identity, _DELETE, -2, -2
        )
        return exists

    def add_outbox(self, records: Iterable[dict[str, Any]]) -> None:
        self._outbox.extend(records)
        if self._outbox:
            self._relayable = True

    def mark_processed(self, subscription: str, message_id: str) -> bool:
        key = (subscription, message_id)
        if key in self._processed:
            return False
        if self._read(
            self.db.processed_exists_sql,
            {"subscription": subscription, "message_id": message_id},
            False,
        ):
            return False
        # recorded at commit; a concurrent twin then fails there (DuplicateMessageError)
        self._processed.append(key)
        return True

    def mark_processed_many(self, subscription: str, message_ids: Sequence[str]) -> list[bool]:
        """:meth:`mark_processed` for a batch, with one query for all of it (the engine's batches).

        Returns one flag per id, False for those already recorded (in the
        database, in this transaction, or earlier in ``message_ids``).
        """
        recorded = set(self._processed)
        wanted = [m for m in dict.fromkeys(message_ids) if (subscription, m) not in recorded]
        seen: set[str] = set()
        for start in range(0, len(wanted), _PROCESSED_CHUNK):
            chunk = wanted[start : start + _PROCESSED_CHUNK]
            sql, params = self._processed_among(subscription, chunk)
            seen.update(str(row[0]) for row in self._read(sql, params, True))
        flags = []
        for message_id in message_ids:
            key = (subscription, message_id)
            if key in recorded or message_id in seen:
                flags.append(False)
                continue
            recorded.add(key)
            self._processed.append(key)
            flags.append(True)
        return flags

    def _processed_among(self, subscription: str, ids: list[str]) -> tuple[str, dict[str, Any]]:
        table = self.engine.dialect.identifier_preparer.quote(self.db.processed.name)
        if self.engine.is_postgres:
            # one index probe per id, whatever the planner believes about the table's
            # size (a plain ``= ANY(...)`` scans every row of the subscription when
            # the statistics are stale, as they are while the table grows fast)
            sql = (
                "SELECT u.id FROM unnest(%(ids)s::varchar[]) AS u(id), LATERAL ("  # noqa: S608
                f"SELECT 1 FROM {table} p WHERE p.subscription = %(subscription)s "
                "AND p.message_id = u.id LIMIT 1) AS found"
            )
            return sql, {"subscription": subscription, "ids": ids}
        names = ", ".join(f":m{i}" for i in range(len(ids)))
        sql = f"SELECT message_id FROM {table} WHERE subscription = :subscription AND message_id IN ({names})"  # noqa: S608
        params: dict[str, Any] = {f"m{i}": m for i, m in enumerate(ids)}
        params["subscription"] = subscription
        return sql, params

    def append_events(self, store: SqlEventStore, messages: Sequence[Any]) -> int:
        """Buffer an event store's append (called by :meth:`SqlEventStore.append`)."""
        self._events.append((store, list(messages)))
        return len(messages)

    # -- commit ---------------------------------------------------------------------
    def _statement_count(self) -> int:
        count = len(self._writes) + len(self._processed)
        for store, messages in self._events:
            count += store.statement_count(len(messages))
        if self._outbox:
            count += 2  # executemany is not one statement
        return count

    def _begin(self) -> Any:
        if self._conn is not None:
            return self._conn
        engine = self.engine
        for attempt in (1, 2):
            fairy = engine.checkout()
            conn = fairy.driver_connection
            try:
                conn.execute(engine.begin_sql)
            except Exception as exc:
                if engine.is_disconnect(exc, conn):
                    engine.discard(fairy)
                    if attempt == 1:
                        continue  # a pooled connection died with the server: nothing was sent
                else:
                    engine.checkin(fairy)
                raise engine.translate(exc) from exc
            self._fairy, self._conn = fairy, conn
            return conn
        raise AssertionError("unreachable")  # pragma: no cover

    def connection(self) -> Any:
        """The driver connection of this transaction, begun, buffered writes sent.

        For writes that join the transaction in a form it does not buffer
        (bulk loads, :mod:`archipel.adapters.sql.bulk`); :meth:`commit` ends it.
        """
        conn = self._begin()
        self._flush(conn)
        return conn

    def _flush(self, conn: Any = None) -> None:
        """Send every buffered write on ``conn`` (default: the transaction, begun if needed)."""
        if conn is None:
            conn = self._begin()
        try:
            self._send(conn)
        except ArchipelError:
            raise
        except Exception as exc:
            raise self.engine.translate(exc) from exc

    def _send(self, conn: Any) -> None:
        cursor = conn.cursor()
        try:
            if self._processed:
                self._send_processed(cursor)
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

    def _send_processed(self, cursor: Any) -> None:
        db = self.db
        now = db.clock()
        pending = self._processed
        if len(pending) == 1:
            subscription, message_id = pending[0]
            cursor.execute(
                db.processed_insert_sql,
                {"subscription": subscription, "message_id": message_id, "processed_at": now},
            )
            if cursor.fetchone() is None:
                raise _duplicate(subscription, message_id)
        else:
            # a batch's records: multi-row inserts, and whatever was not stored is a twin's
            for start in range(0, len(pending), _PROCESSED_CHUNK):
                chunk = pending[start : start + _PROCESSED_CHUNK]
                params: dict[str, Any] = {"at": now}
                for i, (subscription, message_id) in enumerate(chunk):
                    params[f"s{i}"] = subscription
                    params[f"m{i}"] = message_id
                cursor.execute(db.processed_insert_many_sql(len(chunk)), params)
                stored = {(str(s), str(m)) for s, m in cursor.fetchall()}
                for key in chunk:
                    if key not in stored:
                        raise _duplicate(*key)
        self._processed.clear()

    def _send_writes(self, cursor: Any) -> None:
        writes = list(self._writes.items())
        index = 0
        while index < len(writes):
            key, write = writes[index]
            end = index + 1
            # a unique column other than the identity could not tell whose row broke it
            if write.guard == -1 and write.record is not _DELETE and not write.table.unique_columns:
                while end < len(writes) and _same_insert(writes[end][1], write):
                    end += 1
            if end - index > 1:
                self._insert_many(cursor, writes[index:end])
            else:
                self._send_write(cursor, key, write)
            index = end
        self._writes.clear()

    def _insert_many(self, cursor: Any, run: list[tuple[Any, _Write]]) -> None:
        """New rows of one table: on PostgreSQL one ``INSERT ... SELECT FROM unnest``
        of column arrays (a statement per row costs more than the row), on SQLite
        one ``executemany`` (a C loop)."""
        table = run[0][1].table
        rows = [w.table.params(w.record, w.expected + 1) for _, w in run]
        try:
            if self.engine.is_postgres and len(rows) > 1:
                cursor.execute(table.unnest_insert_sql, table.columns_params(rows))
            else:
                cursor.executemany(table.insert_sql, rows)
        except Exception as exc:
            for _, write in run:  # whose row was it? (rows before it may be in, uncommitted)
                self.explain_integrity(exc, write, only=table.name, committed=True)
            raise
        for key, write in run:
            self._flushed[key] = (write.expected, write.expected + 1)

    def _send_write(self, cursor: Any, key: Any, write: _Write) -> None:
        table = write.table
        if write.record is _DELETE:
            cursor.execute(table.delete_sql, {PK_PARAM: write.identity})
            self._flushed.pop(key, None)
            return
        version = write.expected + 1
        params = table.params(write.record, version)
        if write.guard == -1:
            try:
                cursor.execute(table.insert_sql, params)
            except Exception as exc:
                self._integrity(exc, write)
                raise
        else:
            params[PK_PARAM] = write.identity
            params[EXPECTED_PARAM] = write.guard
            try:
                cursor.execute(table.update_sql, params)
            except Exception as exc:
                self._integrity(exc, write)
                raise
            if cursor.rowcount != 1:
                cursor.execute(table.version_sql, {PK_PARAM: write.identity})
                row = cursor.fetchone()
                raise _conflict(write, -1 if row is None else int(row[0]))
        self._flushed[key] = (write.expected, version)

    def _integrity(self, exc: Exception, write: _Write) -> None:
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
            raise _conflict(write, None) from exc
        if write.guard == -1 and self._exists(table, write.identity):
            # the identity conflicts too: that is the error the reference reports
            raise _conflict(write, None) from exc
        column = table.unique_columns.get(constraint)
        if column is None and constraint.startswith(f"{table.name}."):
            column = constraint.split(".", 1)[1]
        column = column or "_entity"
        value = write.record.get(column) if isinstance(write.record, dict) else None
        raise ValidationError(
            {
                column: [
                    f"{table.schema.cls.__name__} with {column}={value!r} already exists: {column} is unique"
                ]
            }
        ) from exc

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

    # -- what is waiting to be sent (read by OneStatement) -----------------------------
    @property
    def pending_processed(self) -> list[tuple[str, str]]:
        return self._processed

    @property
    def pending_writes(self) -> list[_Write]:
        return list(self._writes.values())

    @property
    def pending_events(self) -> list[tuple[SqlEventStore, list[Any]]]:
        return self._events

    @property
    def pending_outbox(self) -> list[dict[str, Any]]:
        return self._outbox

    def conflict(self, write: Any, actual: int | None) -> ExpectedVersionError:
        return _conflict(write, actual)

    def _one_statement(self, conn: Any) -> None:
        self._after_commit.extend(self.db.one_statement.run(conn, self))
        for key, write in self._writes.items():
            if write.record is not _DELETE:
                self._flushed[key] = (write.expected, write.expected + 1)
        self._writes.clear()
        self._events.clear()
        self._outbox.clear()
        self._processed.clear()

    def commit(self) -> None:
        if self._done:
            return
        try:
            statements = self._statement_count() if self._conn is None else 0
            if statements == 1:
                # one statement is atomic by itself: no BEGIN/COMMIT round trips (a
                # SQLite write statement takes the write lock before it reads)
                self.engine.run(self._flush, retry=False)
            elif statements > 1 and self.engine.is_postgres and self.db.one_statement.fits(self):
                # several writes, sent as one statement (see combined.py)
                self.engine.run(self._one_statement, retry=False)
            else:
                if self._writes or self._events or self._outbox or self._processed:
                    self._flush()
                if self._conn is not None:
                    try:
                        self._conn.execute("COMMIT")
                    except Exception as exc:
                        raise self.engine.translate(exc) from exc
        except BaseException:
            self.rollback()
            raise
        self._release()
        self._done = True
        for meta, global_position, position in self._after_commit:
            meta.global_position = global_position
            meta.position = position
        self._after_commit.clear()
        if self._relayable:
            announce(self.engine, OUTBOX)  # push: wake the relay, here and elsewhere

    def rollback(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("ROLLBACK")
            except Exception:
                # the connection is unusable; the server rolls back when it goes
                self.engine.discard(self._fairy)
                self._fairy = self._conn = None
        self._release()
        self._writes.clear()
        self._events.clear()
        self._outbox.clear()
        self._processed.clear()
        self._after_commit.clear()
        self._done = True

    def _release(self) -> None:
        fairy = self._fairy
        if fairy is not None:
            self._fairy = self._conn = None
            self.engine.checkin(fairy)

    def __del__(self) -> None:
        # an abandoned transaction must not keep its pooled connection
        if getattr(self, "_fairy", None) is not None:
            try:
                self.rollback()
            except Exception:  # noqa: S110 - interpreter shutdown or a dead connection
                pass


def _same_insert(write: Any, first: Any) -> bool:
    """Whether ``write`` is a new row of ``first``'s table (both go in one ``executemany``)."""
    return write.guard == -1 and write.record is not _DELETE and write.table is first.table


def _duplicate(subscription: str, message_id: str) -> DuplicateMessageError:
    return DuplicateMessageError(
        f"{subscription} already handled message {message_id}: the redelivery is ignored"
    )


def _conflict(write: _Write, actual: int | None) -> ExpectedVersionError:
    name = write.table.schema.cls.__name__
    ident = write.identity
    if write.guard == -1:
        message = (
            f"{name} {ident!r} already exists: load it and change it "
            "instead of adding a new one with the same identity"
        )
    else:
        message = (
            f"{name} {ident!r} was changed concurrently (expected version "
            f"{write.expected}, found {actual}): reload it and retry"
        )
    return ExpectedVersionError(message, stream=str(ident), expected=write.expected, actual=actual)
