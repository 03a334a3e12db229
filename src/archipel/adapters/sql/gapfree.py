"""Gap-free reading of the event log on PostgreSQL.

The problem: ``global_position`` comes from a sequence, and sequence values
are handed out when rows are inserted, not when transactions commit. A
reader that returns "everything committed after position N" can see 7
committed while 6 is still in flight, move its cursor to 7, and never see 6.

What archipel does. Every event row records the transaction that wrote it
(``tx_id = pg_current_xact_id()``, an ``xid8``). A reader only returns rows
of transactions older than the oldest transaction still running when its
statement started (``tx_id < pg_snapshot_xmin(pg_current_snapshot())``, the
visibility and the bound from the same snapshot). Those transactions are
all finished, so that part of the log can never change again. Rows are
returned in *log order* ``(tx_id, global_position)`` and the cursor
``after_global`` (the ``global_position`` of the last message the reader
handled) is resolved to its row's ``(tx_id, global_position)``.

Why the log order and not ``global_position`` alone: a transaction gets
its xid at its first write and its positions later, so xid order and
position order can disagree. With T1 = xid 100 (wrote a state row first)
and T2 = xid 101: T2 takes position 5 and stays open, T1 takes 6 and
commits; the oldest running xid is now 101 > 100, so position 6 is
returned, and 5, committed later, is behind the cursor. Ordering by
``(tx_id, global_position)`` returns (100, 6) first and (101, 5) once T2
finishes: nothing is skipped (``tests/adapters/test_gapfree.py`` plays
exactly this). Events of one stream keep their order: a writer can only
append position k+1 after reading position k, so its xid (assigned at its
commit, after that read) is the younger one.

Rolled-back transactions leave holes in ``global_position``; they never
block, since a reader waits for transactions, not for numbers. A
transaction that stays open (idle in transaction, a hung client) holds
every reader back until it ends: it is never skipped silently —
:func:`stuck_transactions` names it (pid, age, state, xid) and readers log a
warning while they are held back longer than ``stuck_warning_seconds``.

SQLite needs none of this: it has one writer at a time (``BEGIN
IMMEDIATE`` holds the write lock from the first insert to the commit), so
positions are handed out in commit order and plain ``global_position``
order is gap-free there.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa

from archipel.adapters.sql.engine import SqlEngine
from archipel.adapters.sql.tables import XID8

__all__ = ["GapFreeReader", "stuck_transactions", "STUCK_SQL"]

log = logging.getLogger("archipel.sql.gapfree")

#: sessions whose transaction has an xid and started more than :older seconds ago
STUCK_SQL = """
SELECT pid, datname, usename, application_name, state, backend_xid::text,
       extract(epoch FROM clock_timestamp() - xact_start)::float8 AS age,
       left(query, 200)
FROM pg_stat_activity
WHERE backend_xid IS NOT NULL
  AND pid <> pg_backend_pid()
  AND xact_start < clock_timestamp() - make_interval(secs => %(older)s)
ORDER BY xact_start
"""

PREPARED_SQL = """
SELECT gid, transaction::text, database, owner,
       extract(epoch FROM clock_timestamp() - prepared)::float8
FROM pg_prepared_xacts
WHERE prepared < clock_timestamp() - make_interval(secs => %(older)s)
ORDER BY prepared
"""


def stuck_transactions(conn: Any, older_than_seconds: float = 0.0) -> list[dict[str, Any]]:
    """Open writing transactions older than ``older_than_seconds``, oldest first.

    They hold back gap-free readers (of every database of the cluster: xids
    are cluster-wide). Each is ``{"pid", "database", "user", "application",
    "state", "xid", "age_seconds", "query"}``; prepared (two-phase)
    transactions have ``state = "prepared"`` and ``pid = None``.
    """
    params = {"older": float(older_than_seconds)}
    found = [
        {
            "pid": pid,
            "database": database,
            "user": user,
            "application": application,
            "state": state,
            "xid": xid,
            "age_seconds": age,
            "query": query,
        }
        for pid, database, user, application, state, xid, age, query in conn.execute(
            STUCK_SQL, params
        ).fetchall()
    ]
    for gid, xid, database, owner, age in conn.execute(PREPARED_SQL, params).fetchall():
        found.append(
            {
                "pid": None,
                "database": database,
                "user": owner,
                "application": None,
                "state": "prepared",
                "xid": xid,
                "age_seconds": age,
                "query": f"PREPARE TRANSACTION {gid!r}",
            }
        )
    return found


class GapFreeReader:
    """Compiled log-order reads of one events table (see the module docstring)."""

    def __init__(
        self, engine: SqlEngine, table: sa.Table, stuck_warning_seconds: float = 10.0
    ) -> None:
        c = table.c
        horizon = sa.func.pg_snapshot_xmin(sa.func.pg_current_snapshot())
        columns = [c.global_position, c.position, c.metadata, c.data]
        cursor = sa.tuple_(c.tx_id, c.global_position) > sa.tuple_(
            sa.cast(sa.bindparam("tx"), XID8()), sa.bindparam("after", type_=sa.BigInteger())
        )
        by_position = c.global_position > sa.bindparam("after", type_=sa.BigInteger())
        category = c.category == sa.bindparam("category", type_=sa.String())
        limit = sa.bindparam("limit", type_=sa.Integer())

        def read(*conditions: Any) -> str:
            stmt = (
                sa.select(*columns)
                .where(c.tx_id < horizon, *conditions)
                .order_by(c.tx_id, c.global_position)
                .limit(limit)
            )
            return engine.compile(stmt)

        # (category given, cursor row found) -> SQL
        self._reads = {
            (False, True): read(cursor),
            (False, False): read(by_position),
            (True, True): read(category, cursor),
            (True, False): read(category, by_position),
        }
        self._cursor_sql = engine.compile(
            sa.select(sa.cast(c.tx_id, sa.Text())).where(
                c.global_position == sa.bindparam("after", type_=sa.BigInteger())
            )
        )
        self._held_sql = engine.compile(sa.select(sa.exists().where(c.tx_id >= horizon)))
        self.stuck_warning_seconds = stuck_warning_seconds
        self._held_since: float | None = None
        self._warned_at = 0.0

    def read(self, conn: Any, after: int, limit: int, category: str | None = None) -> list[Any]:
        """Rows ``(global_position, position, metadata, data)`` after ``after`` in log order."""
        params: dict[str, Any] = {"after": after, "limit": limit, "category": category}
        found = False
        if after > 0:
            row = conn.execute(self._cursor_sql, {"after": after}).fetchone()
            if row is not None:
                params["tx"] = row[0]
                found = True
        # a cursor that is no row of the log (a truncated log, a hand-made number)
        # falls back to position order, the best that can be done with it
        rows: list[Any] = conn.execute(
            self._reads[(category is not None, found)], params
        ).fetchall()
        if len(rows) < limit:
            self._check_held(conn)
        return rows

    def _check_held(self, conn: Any) -> None:
        """Note (and, past the threshold, report) committed events held back by open transactions."""
        held = bool(conn.execute(self._held_sql).fetchone()[0])
        now = time.monotonic()
        if not held:
            self._held_since = None
            return
        if self._held_since is None:
            self._held_since = now
            return
        waited = now - self._held_since
        if waited >= self.stuck_warning_seconds and now - self._warned_at >= 60.0:
            self._warned_at = now
            stuck = stuck_transactions(conn, self.stuck_warning_seconds)
            log.warning(
                "event readers have been held back for %.0fs by open transactions; they wait "
                "for them to finish (never skip them). Oldest: %s. End them (COMMIT, ROLLBACK or "
                "pg_terminate_backend(pid)) if they are stuck.",
                waited,
                "; ".join(
                    f"pid={t['pid']} state={t['state']!r} xid={t['xid']} age={t['age_seconds']:.0f}s "
                    f"app={t['application']!r}"
                    for t in stuck[:5]
                )
                or "none older than the threshold (many short ones overlap)",
            )

    @property
    def held_back_seconds(self) -> float:
        """How long readers have been held back by open transactions (0 when they are not)."""
        return 0.0 if self._held_since is None else time.monotonic() - self._held_since
