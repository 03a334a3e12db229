"""PostgreSQL: a unit of work of one row (and its messages) committed without a transaction object.

A synchronous projector's unit of work (and a handler's that stores one object
without raising events) holds one row. Through
:class:`~archipel.adapters.sql.transaction.SqlTransaction` that is one
statement in autocommit: the row's ``INSERT``, or its ``UPDATE ... WHERE
_version = :expected``. :func:`write_alone` sends that same statement, from the
same compiled SQL and bind values, as a named prepared statement through libpq
(:func:`~archipel.adapters.sql.prepared.count_prepared`) instead of psycopg's
cursor, whose per-call machinery was most of a projector's client CPU
(``bench/storage.py``'s ``archipel`` row): still one round trip, one WAL flush.
The transaction sends its single write this way (a projector that loaded its
row first), and :func:`commit_row` (``SqlDatabase.commit_row``, called by
:func:`~archipel.handling.single_commit.commit_single` when nothing was read)
does without the transaction object altogether.

The errors are the transaction's, found the way it finds them: a unique
violation is explained as the archipel error of the write (the identity taken:
:class:`~archipel.errors.ExpectedVersionError`; another unique value: its
validation error), an ``UPDATE`` that matched no row reads the row's version on
the same connection and raises the conflict; anything else is translated. A
write is never retried (it may have reached the commit); a connection that died
is closed when it comes back to the pool.

A row with messages (a command's aggregate and its events, and with
``enable_outbox`` their outbox rows) is one statement too, the transaction's
(:class:`~archipel.adapters.sql.combined.OneStatement`, its errors explained by
the same code); :func:`commit_row` hands it the row, the messages and the
outbox rows directly instead of buffering them in a transaction first, and
after the commit wakes the rows' relays as the transaction's commit does
(:func:`~archipel.adapters.sql.wakeup.announce_outbox`). Messages of another
store, or more than one statement holds, go through the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.combined import MAX_ROWS
from archipel.adapters.sql.event_store import SqlEventStore
from archipel.adapters.sql.prepared import count_prepared
from archipel.adapters.sql.records import EXPECTED_PARAM, PK_PARAM
from archipel.adapters.sql.transaction import commit_through_transaction
from archipel.adapters.sql.wakeup import announce_outbox
from archipel.adapters.sql.writes import PendingWrite, conflict
from archipel.errors import ArchipelError
from archipel.port.outbox import give_shards
from archipel.port.schema import ModelSchema

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase

__all__ = ["commit_row", "write_alone"]

#: ``explain(exc, write)``: raise the archipel error of a unique violation ``write`` caused
Explain = Callable[[BaseException, PendingWrite], None]


def write_alone(conn: Any, write: PendingWrite, explain: Explain) -> None:
    """Send ``write`` (an insert or a guarded update, not a delete) on ``conn`` in
    autocommit, as a prepared statement; the transaction's errors (driver errors other
    than a unique violation ``explain`` names are raised as they are)."""
    table = write.table
    params = table.params(write.record, write.expected + 1)
    if write.guard == -1:
        try:
            count_prepared(conn, table.insert_statement, params)
        except Exception as exc:
            explain(exc, write)
            raise
        return
    params[PK_PARAM] = write.identity
    params[EXPECTED_PARAM] = write.guard
    try:
        written = count_prepared(conn, table.update_statement, params)
    except Exception as exc:
        explain(exc, write)
        raise
    if written != 1:  # the guard: the row has another version, or is gone
        row = conn.execute(table.version_sql, {PK_PARAM: write.identity}).fetchone()
        raise conflict(write, -1 if row is None else int(row[0]))


def commit_row(
    db: SqlDatabase,
    schema: ModelSchema,
    record: dict[str, Any],
    expected_version: int,
    store: Any = None,
    messages: Sequence[Any] = (),
    outbox: Sequence[dict[str, Any]] = (),
) -> None:
    """Save ``record`` (expecting ``expected_version``; -1: a new row), append
    ``messages`` to ``store`` and add the ``outbox`` rows, in one PostgreSQL
    transaction (see the module docstring)."""
    engine = db.engine
    write = PendingWrite(
        db.record_table(schema), record[schema.id_field], record, expected_version, expected_version
    )
    if messages or outbox:
        if (
            not messages
            or store.__class__ is not SqlEventStore
            or store.engine is not engine
            or len(messages) > MAX_ROWS
            or len(outbox) > MAX_ROWS
        ):
            commit_through_transaction(db, schema, record, expected_version, store, messages, outbox)
        else:
            _with_messages(db, write, store, messages, outbox)
        return
    fairy = engine.checkout()
    try:
        # (a transaction object only to explain an error, as the transaction would)
        write_alone(fairy.driver_connection, write, lambda exc, w: db.begin().explain_integrity(exc, w))
    except ArchipelError:
        engine.checkin(fairy)
        raise
    except Exception as exc:
        engine.checkin(fairy)  # (a broken one is closed there: it is not idle)
        raise engine.translate(exc) from exc
    engine.checkin(fairy)


def _with_messages(
    db: SqlDatabase,
    write: PendingWrite,
    store: SqlEventStore,
    messages: Sequence[Any],
    outbox: Sequence[dict[str, Any]],
) -> None:
    """The row, its messages and outbox rows as the transaction sends them: one statement
    (:class:`~archipel.adapters.sql.combined.OneStatement`), its errors explained alike;
    then the wake-up of the outbox rows' relays, as the transaction's commit does."""
    engine = db.engine
    shards = give_shards(outbox) if outbox else None
    unit: Any = _OneRow(db, write, store, messages, outbox)
    fairy = engine.checkout()
    try:
        stored = db.one_statement.run(fairy.driver_connection, unit)
    except ArchipelError:
        engine.checkin(fairy)
        raise
    except Exception as exc:
        engine.checkin(fairy)
        raise engine.translate(exc) from exc
    engine.checkin(fairy)
    for meta, global_position, position in stored:  # once committed, as the transaction does
        meta.global_position = global_position
        meta.position = position
    if shards:  # push: wake the relays of these rows' shards, here and elsewhere
        announce_outbox(engine, shards)


class _OneRow:
    """What :meth:`OneStatement.run` reads of a transaction, for one row, its messages and
    their outbox rows."""

    __slots__ = ("db", "pending_writes", "pending_events", "pending_outbox")

    pending_processed: tuple[()] = ()

    def __init__(
        self,
        db: SqlDatabase,
        write: PendingWrite,
        store: SqlEventStore,
        messages: Sequence[Any],
        outbox: Sequence[dict[str, Any]],
    ) -> None:
        self.db = db
        self.pending_writes = [write]
        self.pending_events = [(store, messages)]
        self.pending_outbox = outbox

    def conflict(self, write: PendingWrite, actual: int | None) -> ArchipelError:
        return conflict(write, actual)

    def explain_integrity(
        self, exc: BaseException, write: Any, only: str | None = None, committed: bool = False
    ) -> None:
        # (a transaction object only to explain an error, as the transaction would)
        self.db.begin().explain_integrity(exc, write, only, committed)

