"""SQLite's commit of one row and its messages, without a transaction object.

A command's usual unit of work holds one aggregate and its events
(:func:`~archipel.handling.single_commit.commit_single`). On SQLite its commit is
``BEGIN IMMEDIATE``, the row's ``INSERT`` (or version-guarded ``UPDATE``), the
messages' multi-row ``INSERT``, with ``enable_outbox`` the outbox rows' ``INSERT``,
``COMMIT`` (one statement alone, in autocommit: a row without messages), then
the wake-up of the outbox rows' relays
(:func:`~archipel.adapters.sql.wakeup.announce_outbox`). :func:`commit_row` sends exactly those statements, the
ones :class:`~archipel.adapters.sql.transaction.SqlTransaction` sends, from the
same compiled statements and bind values, without buffering them first
(``SqlDatabase.commit_row`` on SQLite; PostgreSQL sends its unit of work as one
statement, :mod:`archipel.adapters.sql.combined`).

What is unusual is left to the transaction: when the row's statement violates a
constraint or its ``UPDATE`` finds another version, everything is rolled back and
the unit of work is committed again through ``SqlTransaction``, which explains
the violation as the archipel error of the write (or commits, if the row has
changed meanwhile). Messages of a store on another database go that way too.
Errors of the messages' ``INSERT`` (a stream position taken:
:class:`~archipel.errors.ExpectedVersionError`) are raised as they are, after
the rollback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.event_insert import CHUNK
from archipel.adapters.sql.event_store import SqlEventStore
from archipel.adapters.sql.records import EXPECTED_PARAM, PK_PARAM
from archipel.adapters.sql.transaction import commit_through_transaction
from archipel.adapters.sql.wakeup import announce_outbox
from archipel.errors import ArchipelError
from archipel.port.outbox import give_shards
from archipel.port.schema import ModelSchema

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase

__all__ = ["commit_row"]


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
    ``messages`` to ``store`` and add the ``outbox`` rows, in one SQLite transaction."""
    engine = db.engine
    if messages:
        if store.__class__ is not SqlEventStore or store.engine is not engine:
            commit_through_transaction(db, schema, record, expected_version, store, messages, outbox)
            return
    elif outbox:  # (rows without messages: not a unit of work's)
        commit_through_transaction(db, schema, record, expected_version, store, messages, outbox)
        return
    table = db.record_table(schema)
    version = expected_version + 1
    if expected_version == -1:
        sql, args = table.insert_sql, table.insert_row(record, version)
    else:
        params = table.params(record, version)
        params[PK_PARAM] = record[schema.id_field]
        params[EXPECTED_PARAM] = expected_version
        sql, args = table.update_sql, table.update_args(params)
    stored: Any = ()
    done = False
    fairy = engine.checkout()
    conn = fairy.driver_connection
    usable = True
    try:
        if not messages:  # one statement: atomic by itself
            done = conn.execute(sql, args).rowcount == 1
        else:
            cursor = conn.cursor()  # one cursor for the transaction's statements
            cursor.execute("BEGIN IMMEDIATE")
            try:
                cursor.execute(sql, args)
                if cursor.rowcount == 1:
                    stored = store._append_sqlite(cursor, messages, CHUNK)
                    if outbox:
                        give_shards(outbox)  # (each row's ``shard``: its INSERT and the wake-up read it)
                        db.outbox().insert(cursor, outbox)
                    cursor.execute("COMMIT")
                    done = True
            finally:
                if not done:
                    usable = _rolled_back(conn)
    except sqlite3.IntegrityError:
        done = False  # the row's constraint: the transaction names the error
    except ArchipelError:
        raise
    except Exception as exc:
        raise engine.translate(exc) from exc
    finally:
        if usable:
            engine.checkin(fairy)
        else:
            engine.discard(fairy)
    if not done:
        commit_through_transaction(db, schema, record, expected_version, store, messages, outbox)
        return
    for meta, global_position, position in stored:
        meta.global_position = global_position
        meta.position = position
    if outbox:  # wake the relays of these rows' shards (this process's: SQLite has no NOTIFY)
        announce_outbox(engine, {row["shard"] for row in outbox})


def _rolled_back(conn: Any) -> bool:
    """Roll back; False when the connection could not (unusable: discarded)."""
    try:
        conn.execute("ROLLBACK")
    except Exception:
        return False
    return True

