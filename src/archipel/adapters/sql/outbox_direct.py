"""Relaying into a database broker that lives in the outbox's own PostgreSQL database.

When ``[brokers.default] provider = "database"`` keeps its streams in a
domain database (``database = "<name>"``, the broker then uses that
database's very engine), the relay need not claim rows (a lease written and
committed), publish them (a durable commit) and mark them sent (a third
transaction). :meth:`DirectRelay.move` does all three in one transaction of
two round trips:

1. ``BEGIN``, the transaction's settings and a ``SELECT ... FOR UPDATE`` of
   the claimable rows' ids, streams and priorities (pipelined): row locks,
   no lease written, no message decoded; a relay holding some of the relay
   shards reads only theirs, through the index of relay shards where it
   exists (:meth:`~archipel.adapters.sql.outbox_claim.ClaimStatements.locking`);
2. after the caller has chosen each row's broker stream (a hash of the
   aggregate, in Python), one statement allocates the streams' sequence
   numbers, copies the rows' messages into the broker's entries (the JSON
   text as stored) and marks the rows sent; then ``pg_notify`` of the broker's
   channel and ``COMMIT`` (pipelined): other processes' consumers hear of the
   entries at the commit (no notifier thread, no round trip of its own; the
   commit waits for no flush, so the notify lock is held briefly).

What holds:

- *all or nothing*: a crash of the worker or of the server leaves the rows
  pending and no entry, or the entries published and the rows sent. So the
  commit does not wait for the WAL flush (``synchronous_commit = off``): a
  server crash loses it whole and the rows are relayed again, and whatever a
  consumer commits after reading the entries (durably) flushes the WAL up to
  there first.
- *order per aggregate*: rows are locked, not skipped (no ``SKIP LOCKED``):
  a relay that has just taken a shard over from a stalled holder waits for
  the holder's move and then finds its rows sent, instead of publishing newer
  rows of the same aggregates first. A move never outlives the shard leases
  it runs under: ``lock_timeout``, ``statement_timeout`` and
  ``idle_in_transaction_session_timeout`` are what remains of them, so the
  server ends (rolls back) a stalled move, and the move gives up before its
  second round trip once that time is nearly spent.

A broker with its own ``database_uri`` (even one naming the same database)
or in another database of the domain is published to as before: claim,
publish, mark (:mod:`archipel.engine.relay`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from archipel.adapters.sql.broker import DatabaseBroker
from archipel.adapters.sql.broker_postgres import ALLOCATE, layout
from archipel.adapters.sql.outbox import SqlOutbox
from archipel.adapters.sql.outbox_claim import SHARD_PLAN, SHARD_PLAN_RESET
from archipel.adapters.sql.wakeup import BROKER, bell, notify_statement
from archipel.port.outbox import OUTBOX_PENDING, OUTBOX_SENT

# the statuses written literally in _MOVE
assert (OUTBOX_PENDING, OUTBOX_SENT) == ("pending", "sent")

__all__ = ["DirectRelay", "Moved"]

#: the transaction's settings, bound as parameters (the timeouts in ms, as text)
_SETTINGS = (
    "SELECT set_config('synchronous_commit', 'off', true),"
    " set_config('lock_timeout', %(ms)s, true),"
    " set_config('statement_timeout', %(ms)s, true),"
    " set_config('idle_in_transaction_session_timeout', %(ms)s, true)"
)
#: @P@: the broker's (validated) table prefix; @O@: the outbox table, quoted
_MOVE = (
    ALLOCATE +  # noqa: S608 - module constants only; values are bound parameters
    "), added AS ("
    " INSERT INTO @P@_entries (stream, seq, payload)"
    " SELECT e.stream, a.last_seq - e.back, o.message::text"
    " FROM unnest(%(entry_streams)b::text[], %(backs)b::bigint[], %(entry_ids)b::bigint[])"
    " AS e(stream, back, id) JOIN alloc a ON a.stream = e.stream JOIN @O@ o ON o.id = e.id"
    "), sent AS ("
    " UPDATE @O@ SET status = 'sent', sent_at = extract(epoch FROM now()),"
    " attempts = attempts + 1, lease_owner = NULL, lease_until = NULL"
    " WHERE id = ANY(%(entry_ids)b::bigint[]) AND status = 'pending'"
    ") SELECT count(*) FROM alloc"
)


class Moved(list[dict[str, Any]]):
    """The rows a move published, in claim order; ``drained``: it found fewer claimable rows
    than its limit (what commits later rings the relay)."""

    drained = False


class DirectRelay:
    """Moves outbox rows into a database broker of the same PostgreSQL database, in one
    transaction (see the module). Thread-safe (pooled connections)."""

    def __init__(self, outbox: SqlOutbox, broker: DatabaseBroker) -> None:
        self.outbox = outbox
        self.broker = broker
        self.engine = outbox.engine
        quoted = self.engine.engine.dialect.identifier_preparer.quote(outbox.table.name)
        self._move_sql = _MOVE.replace("@P@", broker.prefix).replace("@O@", quoted)
        self._selects: dict[tuple[int, bool], str] = {}

    @staticmethod
    def between(outbox: Any, broker: Any) -> DirectRelay | None:
        """A :class:`DirectRelay` when ``broker`` is a database broker on the very engine of
        ``outbox``'s PostgreSQL database (so one transaction spans both); else None."""
        if (
            isinstance(outbox, SqlOutbox)
            and isinstance(broker, DatabaseBroker)
            and broker.engine is outbox.engine
            and outbox.engine.is_postgres
        ):
            return DirectRelay(outbox, broker)
        return None

    def _select(self, key: tuple[int, bool]) -> str:
        sql = self._selects.get(key)
        if sql is None:
            c = self.outbox.table.c
            select = self.outbox.claimable(sa.select(c.id, c.stream, c.priority), *key)
            sql = self._selects[key] = self.engine.compile(select.with_for_update())
        return sql

    def move(
        self,
        route: Callable[[dict[str, Any]], str],
        *,
        limit: int,
        seconds: float,
        shards: Sequence[int] | None = None,
        of: int = 1,
        exclude_prefix: str | None = None,
    ) -> Moved:
        """Publish up to ``limit`` claimable rows (as :meth:`SqlOutbox.claim` would claim them)
        to the broker streams ``route(row)`` names and mark them sent, in one transaction that
        ends within ``seconds``; return the rows moved (``id``, ``stream``, ``priority``), in
        claim order. Nothing is moved when the time runs out first. Raises on failure (then
        nothing was moved, unless the connection died during the ``COMMIT``: then either)."""
        key, params = self.outbox.claim_params(shards, of, exclude_prefix)
        params["limit"] = limit
        # some shards: by the index of relay shards where it exists (the other relays' rows unread)
        by_shard = bool(key[0]) and self.outbox.has_shard_index(of)
        select = self.outbox.claims.locking(*key, of) if by_shard else self._select(key)
        shard_plan, reset = (SHARD_PLAN, SHARD_PLAN_RESET) if by_shard else ((), ())
        chosen: list[int] = []  # how many rows the statement chose, where it says (by_shard)
        published: list[str] = []  # the streams written (their consumers are woken)
        deadline = time.monotonic() + seconds
        settings = {"ms": str(max(1, int(seconds * 1000)))}
        move = self._move_sql
        failed: list[Exception] = []
        self.broker._setup()  # the broker's tables exist (a DDL transaction, once)

        def work(conn: Any) -> list[dict[str, Any]]:
            cursor = conn.cursor()
            with conn.pipeline():
                conn.execute("BEGIN")
                conn.execute(_SETTINGS, settings)
                for setting in shard_plan:
                    conn.execute(setting)
                cursor.execute(select, params)
            rows = []
            for i, s, p in cursor.fetchall():
                if i is None:  # (by_shard, several shards) the rows chosen, some perhaps left out
                    chosen.append(int(p))
                else:
                    rows.append({"id": int(i), "stream": s, "priority": p})
            if not rows:
                conn.execute("ROLLBACK")
                return []
            rows.sort(key=lambda r: (-(r["priority"] or 0), r["id"]))
            try:
                streams = [route(row) for row in rows]
            except Exception as exc:  # the caller's error, not the database's: raised as it is
                conn.execute("ROLLBACK")
                failed.append(exc)
                return []
            plan = layout(streams)
            values = {
                "streams": plan.streams, "counts": plan.counts, "entry_streams": plan.entry_streams,
                "backs": plan.backs, "entry_ids": [rows[index]["id"] for index in plan.indexes],
            }
            if time.monotonic() > deadline:
                conn.execute("ROLLBACK")  # stalled: the shards may have moved on; nothing moved
                return []
            # the move commits without a WAL flush: it notifies inside itself (no notifier
            # thread), the streams written in the payload (only their consumers wake)
            notify = notify_statement(self.engine, BROKER, plan.streams)
            with conn.pipeline():
                for setting in reset:
                    conn.execute(setting)
                conn.execute(move, values)
                if notify is not None:  # other processes' consumers, at the commit
                    conn.execute(*notify)
                conn.execute("COMMIT")
            published[:] = plan.streams
            return rows

        # no blind retry: a COMMIT whose reply was lost may have gone through (then the rows
        # are sent: the next move skips them; else they are pending: it takes them)
        moved = Moved(self.engine.run(work, retry=False))
        if failed:
            raise failed[0]
        # fewer rows than asked for: drained, unless rows chosen were left out (moved meanwhile
        # by a former owner of their shard: rows after them may be waiting)
        moved.drained = len(moved) < limit and not any(n >= limit for n in chosen)
        if moved:
            # push: this process's consumers of these streams (the commit notified the others)
            bell(BROKER).ring(published or None)
        return moved
