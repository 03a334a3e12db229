"""Processed-message records: which messages a subscription already handled.

Exactly-once effects: a handler's unit of work records ``(subscription,
message_id)`` with its writes, and a redelivered message finds its record.
A batch is looked up with one query and recorded with one insert from
arrays on PostgreSQL (the same text for any batch size, so it is prepared
once), multi-row inserts on SQLite (chunks of :data:`CHUNK`: SQLite allows
999 parameters per statement).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.array_binds import text_array
from archipel.adapters.sql.tables import constraint_name
from archipel.adapters.sql.writes import duplicate, unique_violation
from archipel.errors import DuplicateMessageError

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase

__all__ = ["CHUNK", "postgres_insert_many", "processed_among", "prune_processed", "send_processed"]

#: ids per statement
CHUNK = 500


def processed_among(db: SqlDatabase, subscription: str, ids: list[str]) -> tuple[str, dict[str, Any]]:
    """The query (and its parameters) of the ``ids`` that ``subscription`` already recorded."""
    table = db.engine.dialect.identifier_preparer.quote(db.processed.name)
    if db.engine.is_postgres:
        # one index probe per id, whatever the planner believes about the table's
        # size (a plain ``= ANY(...)`` scans every row of the subscription when
        # the statistics are stale, as they are while the table grows fast)
        sql = (
            "SELECT u.id FROM unnest(%(ids)b::varchar[]) AS u(id), LATERAL ("  # noqa: S608
            f"SELECT 1 FROM {table} p WHERE p.subscription = %(subscription)s "
            "AND p.message_id = u.id LIMIT 1) AS found"
        )
        return sql, {"subscription": subscription, "ids": text_array(ids)}
    names = ", ".join(f":m{i}" for i in range(len(ids)))
    sql = f"SELECT message_id FROM {table} WHERE subscription = :subscription AND message_id IN ({names})"  # noqa: S608
    params: dict[str, Any] = {f"m{i}": m for i, m in enumerate(ids)}
    params["subscription"] = subscription
    return sql, params


def send_processed(db: SqlDatabase, cursor: Any, pending: list[tuple[str, str]]) -> None:
    """Insert the records ``pending``; a record already there (a twin's) raises
    :class:`~archipel.errors.DuplicateMessageError`."""
    now = db.clock()
    if len(pending) == 1:
        subscription, message_id = pending[0]
        cursor.execute(
            db.processed_insert_sql,
            {"subscription": subscription, "message_id": message_id, "processed_at": now},
        )
        # PostgreSQL returns the stored row; SQLite's statement has no RETURNING
        stored = cursor.fetchone() is not None if db.engine.is_postgres else cursor.rowcount == 1
        if not stored:
            raise duplicate(subscription, message_id)
        return
    # a batch's records: multi-row inserts, and whatever was not stored is a twin's
    if db.engine.is_postgres:
        # one plain INSERT whatever the batch's size (arrays, not one placeholder pair per
        # record: its text never changes, so psycopg prepares it once per connection). The
        # records were looked up before (mark_processed_many), so a conflict is a twin
        # committed meanwhile: the statement fails, and the twin is named afterwards. No
        # ``ON CONFLICT``: its speculative insertion cost an index probe and a WAL record
        # more per row, and ``RETURNING`` sent every record back
        subscriptions = {subscription for subscription, _ in pending}
        if len(subscriptions) == 1:
            sql = postgres_insert_many(db, one_subscription=True)
            values: dict[str, Any] = {"s": next(iter(subscriptions)), "m": text_array([m for _, m in pending]), "at": now}
        else:
            sql = postgres_insert_many(db, one_subscription=False)
            values = {"s": text_array([s for s, _ in pending]), "m": text_array([m for _, m in pending]), "at": now}
        try:
            cursor.execute(sql, values)
        except Exception as exc:
            if unique_violation(exc) != constraint_name(db.processed.name, "pkey"):
                raise
            raise _twin(db, pending) from exc
        return
    for start in range(0, len(pending), CHUNK):
        chunk = pending[start : start + CHUNK]
        params: dict[str, Any] = {"at": now}
        for i, (subscription, message_id) in enumerate(chunk):
            params[f"s{i}"] = subscription
            params[f"m{i}"] = message_id
        cursor.execute(db.processed_insert_many_sql(len(chunk)), params)
        stored = {(str(s), str(m)) for s, m in cursor.fetchall()}
        for key in chunk:
            if key not in stored:
                raise duplicate(*key)


def postgres_insert_many(db: SqlDatabase, one_subscription: bool) -> str:
    """``INSERT ... SELECT`` of the message ids ``%(m)b`` (an array) and the subscription
    ``%(s)s`` (with ``one_subscription``; else an array too)."""
    table = db.engine.dialect.identifier_preparer.quote(db.processed.name)
    if one_subscription:
        rows = "SELECT %(s)s, u.m, %(at)s FROM unnest(%(m)b::varchar[]) AS u(m)"
    else:
        rows = "SELECT u.s, u.m, %(at)s FROM unnest(%(s)b::varchar[], %(m)b::varchar[]) AS u(s, m)"
    return f"INSERT INTO {table} (subscription, message_id, processed_at) {rows}"  # noqa: S608 - a table name


def _twin(db: SqlDatabase, pending: list[tuple[str, str]]) -> DuplicateMessageError:
    """The error naming the first of ``pending`` recorded by a twin (the insert of ``pending``
    failed on the records' key: the twin committed meanwhile; asked on another connection,
    the failed statement having aborted this transaction)."""
    by_subscription: dict[str, list[str]] = {}
    for subscription, message_id in pending:
        by_subscription.setdefault(subscription, []).append(message_id)
    for subscription, ids in by_subscription.items():
        for start in range(0, len(ids), CHUNK):
            sql, params = processed_among(db, subscription, ids[start : start + CHUNK])
            found = {str(row[0]) for row in db.engine.fetch(sql, params, True)}
            for message_id in ids[start : start + CHUNK]:
                if message_id in found:
                    return duplicate(subscription, message_id)
    subscription, message_id = pending[0]  # (not found: recorded, then removed meanwhile)
    return DuplicateMessageError(
        f"{subscription}: a message of this batch (from {message_id}) was handled meanwhile by a twin"
    )


def prune_processed(
    db: SqlDatabase, before: float, batch_size: int, keep: Sequence[str] = ()
) -> Iterator[int]:
    """Delete the records written before ``before`` (epoch seconds), but none of the
    subscriptions ``keep``, ``batch_size`` at a time, each batch its own short transaction;
    yield how many each batch deleted (the last one deleted fewer than ``batch_size``)."""
    table = db.engine.dialect.identifier_preparer.quote(db.processed.name)
    postgres = db.engine.is_postgres

    def mark(name: str) -> str:
        return f"%({name})s" if postgres else f":{name}"

    params: dict[str, Any] = {f"k{i}": name for i, name in enumerate(sorted(keep))}
    kept = f" AND subscription NOT IN ({', '.join(mark(k) for k in params)})" if params else ""
    # a table name; values are parameters
    sql = (
        f"DELETE FROM {table} WHERE (subscription, message_id) IN (SELECT subscription, message_id "  # noqa: S608
        f"FROM {table} WHERE processed_at < {mark('before')}{kept} LIMIT {int(batch_size)})"
    )
    params["before"] = float(before)
    while True:
        deleted = int(db.engine.run(lambda conn: conn.execute(sql, params).rowcount, retry=False))
        yield deleted
        if deleted < batch_size:
            return
