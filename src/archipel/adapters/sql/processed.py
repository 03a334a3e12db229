"""Processed-message records: which messages a subscription already handled.

Exactly-once effects: a handler's unit of work records ``(subscription,
message_id)`` with its writes, and a redelivered message finds its record.
A batch is looked up with one query and recorded with one insert from
arrays on PostgreSQL (the same text for any batch size, so it is prepared
once), multi-row inserts on SQLite (chunks of :data:`CHUNK`: SQLite allows
999 parameters per statement).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.writes import duplicate

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase

__all__ = ["CHUNK", "processed_among", "send_processed"]

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
        return sql, {"subscription": subscription, "ids": ids}
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
        if cursor.fetchone() is None:
            raise duplicate(subscription, message_id)
        return
    # a batch's records: multi-row inserts, and whatever was not stored is a twin's
    if db.engine.is_postgres:
        # one statement whatever the batch's size (arrays, not one placeholder pair per
        # record): its text never changes, so psycopg prepares it once per connection
        cursor.execute(
            _postgres_insert_many(db),
            {"s": [s for s, _ in pending], "m": [m for _, m in pending], "at": now},
        )
        stored = {(str(s), str(m)) for s, m in cursor.fetchall()}
        for key in pending:
            if key not in stored:
                raise duplicate(*key)
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


def _postgres_insert_many(db: SqlDatabase) -> str:
    """``INSERT ... SELECT`` from two arrays (``%(s)s``, ``%(m)s``), skipping records already
    there and returning those it stored."""
    table = db.engine.dialect.identifier_preparer.quote(db.processed.name)
    return (
        f"INSERT INTO {table} (subscription, message_id, processed_at) "  # noqa: S608 - a table name
        "SELECT u.s, u.m, %(at)s FROM unnest(%(s)b::varchar[], %(m)b::varchar[]) AS u(s, m) "
        "ON CONFLICT (subscription, message_id) DO NOTHING RETURNING subscription, message_id"
    )
