"""PostgreSQL: a transaction of many writes (an engine batch) as one statement, one round trip.

The engine's batches (a processed record per message, the handlers' rows, the
lease fence) were sent statement by statement: ``BEGIN``, the processed
records, each kind of write, ``COMMIT`` — five round trips a batch, and in a
worker process every round trip ends with the thread waiting for the GIL
behind the other threads (bench/README.md, session 15: most of a batch's
``COMMIT`` was that wait, not PostgreSQL's work). A pipeline saves the
server's turns but not the client's: psycopg sends each statement of a
pipeline as it is queued, one wait (and GIL) each. So the writes go as one
statement, each a data-modifying CTE, atomic by itself (no ``BEGIN`` or
``COMMIT``)::

    WITH c0 AS (INSERT INTO processed ... SELECT ... FROM unnest(<message ids>)),
         c1 AS (INSERT INTO projection (...) SELECT * FROM unnest(<one array per column>)),
         c2 AS (UPDATE leases SET ... WHERE id = ... AND _version = ... RETURNING 1),
         c3 AS (DELETE FROM projection WHERE id = ...)
    SELECT 1 / ((SELECT count(*) FROM c2) * ...)

New rows of a table are one CTE whatever their number (arrays), so a
batch's text depends on its kinds of writes, not its size, and is prepared
once. An optimistic ``UPDATE`` that matched no row (its version moved on: a
lost lease, a concurrent save) makes the final count zero: a division by
zero fails the statement, and nothing of it is kept (as in :mod:`.combined`,
which does the same for a unit of work's few writes, row by row).

Any failure (a guard, a unique violation, a twin's processed record) is not
explained here: :func:`commit_batch` returns False, the buffers untouched,
and the caller sends them again the usual way, statement by statement, which
names the error exactly as before — or commits, if what failed is gone. A
connection lost meanwhile is an outage (whether the statement committed is
unknown, as with a lost ``COMMIT``): never sent again here.

Only write sets without events or outbox rows come here (their statements
read back what they stored: positions, ids), with at most :data:`MAX_SINGLE`
rows written one CTE each (updates, deletes, inserts into tables whose other
unique columns must name the row that broke them).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.array_binds import text_array
from archipel.adapters.sql.connections import cursor_of
from archipel.adapters.sql.processed import postgres_insert_many
from archipel.adapters.sql.records import EXPECTED_PARAM, PK_PARAM
from archipel.adapters.sql.writes import DELETE, same_insert

if TYPE_CHECKING:
    from archipel.adapters.sql.transaction import SqlTransaction
    from archipel.adapters.sql.writes import PendingWrite

__all__ = ["MAX_SINGLE", "batch_statement", "commit_batch", "fits"]

#: the most rows written by a CTE of their own (each makes the text longer and its shape rarer)
MAX_SINGLE = 32
_PLACEHOLDER = re.compile(r"%\((\w+)\)([sbt])")


def fits(tx: SqlTransaction) -> bool:
    """Whether :func:`commit_batch` can send ``tx``: nothing sent yet, no events, no outbox,
    at most :data:`MAX_SINGLE` rows needing a CTE of their own."""
    if tx._conn is not None or tx.pending_events or tx.pending_outbox:
        return False
    single = 0
    for write in tx.pending_writes:
        if not _bulk(write):
            single += 1
            if single > MAX_SINGLE:
                return False
    return True


def commit_batch(tx: SqlTransaction) -> bool:
    """Commit ``tx``'s buffered writes as one statement; False (nothing kept, the buffers as
    they were) when it failed: send them the usual way to learn why."""
    sql, params = batch_statement(tx)
    engine = tx.engine
    fairy = engine.checkout()
    conn = fairy.driver_connection
    try:
        cursor_of(conn).execute(sql, params)
    except Exception as exc:
        if engine.is_disconnect(exc, conn):
            engine.discard(fairy)  # sent, perhaps committed: an outage, not a refusal
            raise engine.translate(exc) from exc
        engine.checkin(fairy)  # (autocommit: the failed statement left nothing open)
        return False
    except BaseException:
        engine.discard(fairy)  # interrupted mid-exchange: the connection's state is unknown
        raise
    engine.checkin(fairy)
    return True


def batch_statement(tx: SqlTransaction) -> tuple[str, dict[str, Any]]:
    """The statement of ``tx``'s writes and its parameters (each CTE's prefixed ``c<n>_``)."""
    parts: list[tuple[str, dict[str, Any]]] = []
    guards: list[int] = []
    processed = tx.pending_processed
    if processed:
        subscriptions = {subscription for subscription, _ in processed}
        one = len(subscriptions) == 1
        parts.append((
            postgres_insert_many(tx.db, one_subscription=one),
            {
                "s": next(iter(subscriptions)) if one else text_array([s for s, _ in processed]),
                "m": text_array([m for _, m in processed]),
                "at": tx.db.clock(),
            },
        ))
    writes = tx.pending_writes
    index = 0
    while index < len(writes):
        write = writes[index]
        end = index + 1
        if _bulk(write):
            while end < len(writes) and same_insert(writes[end], write):
                end += 1
            table = write.table
            run = writes[index:end]
            parts.append((table.unnest_insert_sql, table.unnest_binds([w.record for w in run], [w.expected + 1 for w in run])))
        else:
            if write.guard >= 0 and write.record is not DELETE:  # an optimistic update
                guards.append(len(parts))
            parts.append(_single(write))
        index = end
    ctes = []
    params: dict[str, Any] = {}
    for number, (sql, values) in enumerate(parts):
        prefix = f"c{number}_"
        renamed = _PLACEHOLDER.sub(f"%({prefix}\\1)\\2", sql)
        ctes.append(f"c{number} AS ({renamed}{' RETURNING 1' if number in guards else ''})")
        params.update({prefix + name: value for name, value in values.items()})
    check = " * ".join(f"(SELECT count(*) FROM c{number})" for number in guards) or "1"  # noqa: S608 - CTE names
    return f"WITH {', '.join(ctes)} SELECT 1 / ({check}) AS ok", params


def _bulk(write: PendingWrite) -> bool:
    """Whether ``write`` is a new row that can share its table's one CTE (no unique column
    other than the key, whose violation must name the row that broke it)."""
    return write.guard == -1 and write.record is not DELETE and not write.table.unique_columns


def _single(write: PendingWrite) -> tuple[str, dict[str, Any]]:
    table = write.table
    if write.record is DELETE:
        return table.delete_sql, {PK_PARAM: write.identity}
    params = table.params(write.record, write.expected + 1)
    if write.guard == -1:
        return table.insert_sql, params
    params[PK_PARAM] = write.identity
    params[EXPECTED_PARAM] = write.guard
    return table.update_sql, params
