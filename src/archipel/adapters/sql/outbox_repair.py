"""Adding outbox rows that are missing, once (``archipel outbox reconcile``).

:func:`add_missing` takes candidate rows and, in one transaction, adds those
whose ``(message_id, stream)`` has no row yet. Repairs run one at a time per
database — ``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock
on PostgreSQL — so two reconciles started together never both add a row:
the second waits, then finds the first one's rows. The business transactions
need no lock: they write an event's rows with the event, so a row they add
is never one a repair looks for (see :mod:`archipel.engine.reconcile`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from archipel.adapters.sql.wakeup import OUTBOX, announce
from archipel.port.outbox import sharded

if TYPE_CHECKING:
    from archipel.adapters.sql.outbox import SqlOutbox

__all__ = ["add_missing"]

#: ``pg_advisory_xact_lock`` key of outbox repairs ("arcOutRp")
_REPAIR_LOCK = 0x6172634F75745270
#: message ids per existence query (SQLite allows 999 parameters per statement)
_CHUNK = 400


def _existing(outbox: SqlOutbox, cursor: Any, message_ids: list[str]) -> set[tuple[str, str]]:
    c = outbox.table.c
    found: set[tuple[str, str]] = set()
    for start in range(0, len(message_ids), _CHUNK):
        chunk = message_ids[start : start + _CHUNK]
        names = [f"m{i}" for i in range(len(chunk))]
        statement = sa.select(c.message_id, c.stream).where(
            c.message_id.in_([sa.bindparam(n, type_=c.message_id.type) for n in names])
        )
        cursor.execute(outbox.engine.compile(statement), dict(zip(names, chunk, strict=True)))
        found.update((str(m), str(s)) for m, s in cursor.fetchall())
    return found


def add_missing(
    outbox: SqlOutbox, records: Sequence[dict[str, Any]], dry_run: bool = False
) -> list[dict[str, Any]]:
    """The ``records`` whose ``(message_id, stream)`` has no row, added unless ``dry_run``."""
    engine = outbox.engine
    wanted = list(records)
    if not wanted:
        return []

    def repair(conn: Any) -> list[dict[str, Any]]:
        cursor = conn.cursor()
        try:
            cursor.execute(engine.begin_sql)
            try:
                if engine.is_postgres:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_REPAIR_LOCK,))
                ids = sorted({str(r["message_id"]) for r in wanted})
                there = _existing(outbox, cursor, ids)
                missing = [r for r in wanted if (str(r["message_id"]), str(r["stream"])) not in there]
                if missing and not dry_run:
                    outbox.insert(cursor, sharded(missing))
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("ROLLBACK" if dry_run or not missing else "COMMIT")
            return missing
        finally:
            cursor.close()

    # not retried: a commit whose answer was lost may have added the rows (the
    # next run finds them; running it again is what the caller is told to do)
    added: list[dict[str, Any]] = engine.run(repair, retry=False)
    if added and not dry_run:
        announce(engine, OUTBOX)  # wake the relays, here and in other processes
    return added
