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
unit of work. Larger write sets without events or outbox rows (the engine's
batches) go as one statement too, new rows of a table in one CTE
(:mod:`archipel.adapters.sql.batch_statement`).

Reads before any write run as single statements on a pooled connection;
after a write was sent (a ``query`` sends pending writes first) they run in
the open transaction, so a transaction reads its own writes. Conflicts are
detected where the database decides them: an ``INSERT`` of an existing
identity or an ``UPDATE ... WHERE _version = :expected`` matching no row
raises :class:`~archipel.errors.ExpectedVersionError`, and nothing of the
transaction is kept.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.batch_statement import commit_batch, fits
from archipel.adapters.sql.codec import dumps, loads
from archipel.adapters.sql.fetching import fetch_rows
from archipel.adapters.sql.flush import WriteFlush
from archipel.adapters.sql.processed import CHUNK, processed_among
from archipel.adapters.sql.reads import query_records
from archipel.adapters.sql.wakeup import announce_outbox
from archipel.adapters.sql.writes import DELETE, PendingWrite, conflict, unique_violation
from archipel.core.queryset import Criteria
from archipel.errors import ArchipelError, ExpectedVersionError
from archipel.port.outbox import give_shards
from archipel.port.schema import ModelSchema

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase
    from archipel.adapters.sql.event_store import SqlEventStore

# unique_violation: re-exported (it lived here)
__all__ = ["SqlTransaction", "commit_through_transaction", "unique_violation"]


class SqlTransaction(WriteFlush):
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
        self._writes: dict[tuple[str, Any], PendingWrite] = {}
        # versions written by an earlier flush of this transaction: key -> (expected, stored)
        self._flushed: dict[tuple[str, Any], tuple[int, int]] = {}
        self._events: list[tuple[SqlEventStore, list[Any]]] = []
        self._outbox: list[dict[str, Any]] = []
        self._processed: list[tuple[str, str]] = []
        self._fairy: Any = None
        self._conn: Any = None
        self._done = False
        self._after_commit: list[tuple[Any, int, int]] = []
        #: the ``shard`` of each outbox row written: the relays of those shards are woken after
        #: the commit
        self._relayable: set[int] = set()

    # -- reads --------------------------------------------------------------------
    def _read(self, sql: str, params: Any, many: bool) -> Any:
        if self._conn is not None:
            try:
                if self.engine.is_postgres:
                    # (the connection's reused cursor: a new psycopg one copies its adapters)
                    return fetch_rows(self._conn, sql, params, many)
                cursor = self._conn.execute(sql, params)  # (sqlite3 makes the cursor in C)
                return cursor.fetchall() if many else cursor.fetchone()
            except Exception as exc:
                raise self.engine.translate(exc) from exc
        return self.engine.fetch(sql, params, many)

    def get(self, schema: ModelSchema, identity: Any) -> dict[str, Any] | None:
        key = (schema.table, identity)
        pending = self._writes.get(key)
        if pending is not None:
            if pending.record is DELETE:
                return None
            found: dict[str, Any] = loads(dumps(pending.record))
            found["_version"] = pending.expected + 1
            return found
        table = self.db.record_table(schema)
        if self._conn is None:  # nothing sent yet: one statement in autocommit (prepared)
            row = self.engine.fetch(table.select_statement, (identity,), False)
        else:  # in the open transaction (a prepared statement there could abort it)
            row = self._read(table.select_sql, (identity,), False)
        return None if row is None else table.record(row)

    def query(self, schema: ModelSchema, criteria: Criteria) -> tuple[list[dict[str, Any]], int]:
        if self._writes or self._events or self._outbox or self._processed:
            self._flush()
        return query_records(self.db, self._read, schema, criteria)

    def raw(self, schema: ModelSchema, query: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The records of a developer's ``SELECT``, in this transaction (its writes flushed)."""
        from archipel.adapters.sql.raw import raw_records

        if self._writes or self._events or self._outbox or self._processed:
            self._flush()
        conn = self._conn
        if conn is None:
            return raw_records(self.db, self.engine.run, schema, query, data)

        def run(action: Any) -> Any:
            try:
                return action(conn)
            except ArchipelError:
                raise
            except Exception as exc:
                raise self.engine.translate(exc) from exc

        return raw_records(self.db, run, schema, query, data)

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
        self._writes[key] = PendingWrite(table, identity, record, expected_version, guard)

    def delete(self, schema: ModelSchema, identity: Any) -> bool:
        exists = self.get(schema, identity) is not None
        self._writes[(schema.table, identity)] = PendingWrite(
            self.db.record_table(schema), identity, DELETE, -2, -2
        )
        return exists

    def add_outbox(self, records: Iterable[dict[str, Any]]) -> None:
        """Buffer outbox rows, each given its ``shard`` here, once (:func:`give_shards`: the
        shard key of its stream, set in the record): the commit's wake-up of those shards' relays and
        the ``INSERT`` (:meth:`SqlOutbox.insert`, :meth:`SqlOutbox.params`) both read it."""
        records = list(records)
        self._relayable.update(give_shards(records))
        self._outbox.extend(records)

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

    def processed_among(self, subscription: str, message_ids: Sequence[str]) -> set[str]:
        """The ids of ``message_ids`` recorded as processed by ``subscription`` (committed ones)."""
        seen: set[str] = set()
        for start in range(0, len(message_ids), CHUNK):
            chunk = list(message_ids[start : start + CHUNK])
            sql, params = processed_among(self.db, subscription, chunk)
            seen.update(str(row[0]) for row in self._read(sql, params, True))
        return seen

    def mark_processed_many(
        self, subscription: str, message_ids: Sequence[str], fresh: Collection[str] = ()
    ) -> list[bool]:
        """:meth:`mark_processed` for a batch, with one query for all of it (the engine's batches).

        Returns one flag per id, False for those already recorded (in the
        database, in this transaction, or earlier in ``message_ids``). Ids in
        ``fresh`` are not looked up: the caller found them unrecorded by a
        recent :meth:`processed_among` and nothing can have recorded them
        since (were it wrong, the commit refuses the twin record:
        ``DuplicateMessageError``).
        """
        if len(message_ids) == 1 and not self._processed and message_ids[0] in fresh:
            # the engine's one-message batches: known unrecorded, nothing to look up
            self._processed.append((subscription, message_ids[0]))
            return [True]
        recorded = set(self._processed)
        known = set(fresh)
        wanted = [m for m in dict.fromkeys(message_ids) if (subscription, m) not in recorded and m not in known]
        seen = self.processed_among(subscription, wanted)
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

    def append_events(self, store: SqlEventStore, messages: Sequence[Any]) -> int:
        """Buffer an event store's append (called by :meth:`SqlEventStore.append`)."""
        self._events.append((store, list(messages)))
        return len(messages)

    # -- commit ---------------------------------------------------------------------
    def _statement_count(self) -> int:
        """The statements the commit sends: exactly when under 2, else some number >= 2
        (all :meth:`commit` asks: none, one alone, or several)."""
        count = len(self._writes) + len(self._processed)
        if self._outbox:
            count += 2  # executemany is not one statement
        if count < 2:
            for store, messages in self._events:
                count += store.statement_count(messages)
                if count >= 2:
                    break
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

    # -- what is waiting to be sent (read by OneStatement) -----------------------------
    @property
    def pending_processed(self) -> list[tuple[str, str]]:
        return self._processed

    @property
    def pending_writes(self) -> list[PendingWrite]:
        return list(self._writes.values())

    @property
    def write_count(self) -> int:
        return len(self._writes)

    @property
    def pending_events(self) -> list[tuple[SqlEventStore, list[Any]]]:
        return self._events

    @property
    def pending_outbox(self) -> list[dict[str, Any]]:
        return self._outbox

    def conflict(self, write: Any, actual: int | None) -> ExpectedVersionError:
        return conflict(write, actual)

    def _one_statement(self, conn: Any) -> None:
        # (the commit's: the transaction ends here, so no flushed versions to keep)
        self._after_commit.extend(self.db.one_statement.run(conn, self))
        self._writes.clear()
        self._events.clear()
        self._outbox.clear()
        self._processed.clear()

    def _write_alone(self, conn: Any) -> None:
        ((_, write),) = self._writes.items()
        try:
            self.db.write_alone(conn, write, self.explain_integrity)
        except ArchipelError:
            raise
        except Exception as exc:
            raise self.engine.translate(exc) from exc
        self._writes.clear()

    def commit(self) -> None:
        if self._done:
            return
        try:
            statements = self._statement_count() if self._conn is None else 0
            if statements == 1:
                # one statement is atomic by itself: no BEGIN/COMMIT round trips (a
                # SQLite write statement takes the write lock before it reads)
                if (
                    self.db.write_alone is not None
                    and self._writes
                    and not self._events
                    and next(iter(self._writes.values())).record is not DELETE
                ):
                    # PostgreSQL, one row: a prepared statement (pg_commit.py)
                    self.engine.run(self._write_alone, retry=False)
                else:
                    self.engine.run(self._flush, retry=False)
            elif statements > 1 and self.engine.is_postgres and self.db.one_statement.fits(self):
                # several writes, sent as one statement (see combined.py)
                self.engine.run(self._one_statement, retry=False)
            elif statements > 1 and self.engine.is_postgres and fits(self) and commit_batch(self):
                # a batch's many writes as one statement (see batch_statement.py)
                self._writes.clear()
                self._processed.clear()
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
            # push: wake the relays of these rows' shards, here and elsewhere
            announce_outbox(self.engine, self._relayable)

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


def commit_through_transaction(
    db: SqlDatabase,
    schema: ModelSchema,
    record: dict[str, Any],
    expected_version: int,
    store: Any,
    messages: Sequence[Any],
    outbox: Sequence[dict[str, Any]] = (),
) -> None:
    """Save ``record``, append ``messages`` and add the ``outbox`` rows in one
    :class:`SqlTransaction` and commit it (which wakes the rows' relays).

    The general path the one-row commits (``sqlite_commit``, ``pg_commit``) fall back to
    for anything unusual: its errors are the ones a unit of work's commit raises.
    """
    tx = db.begin()
    try:
        tx.save(schema, record, expected_version)
        if messages:
            store.append(messages, transaction=tx)
        if outbox:
            tx.add_outbox(outbox)
        tx.commit()
    except BaseException:
        tx.rollback()
        raise
