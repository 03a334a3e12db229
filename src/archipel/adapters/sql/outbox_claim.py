"""The outbox claim statements (a part of :class:`~archipel.adapters.sql.outbox.SqlOutbox`).

Two shapes of the same claim (pending rows, not leased or their lease expired,
highest priority then oldest first, leased to the caller):

- **By the claim index** (``<table>_pending_idx``: pending rows by priority, id):
  ``UPDATE ... WHERE ctid = ANY(ARRAY(SELECT ctid ... FOR UPDATE SKIP LOCKED LIMIT n))``
  on PostgreSQL (``id IN (SELECT id ...)`` on SQLite).
  A relay holding some of ``n`` relay shards filters ``shard % n`` on the rows the
  index gives, so with ``k`` relays it reads ~``k`` rows for each one it takes.
- **By relay shard** (PostgreSQL, once the index ``<table>_pending_of<n>_idx`` on
  ``(mod(shard, n), priority DESC, id)`` of pending rows exists): one ordered index scan
  per shard held, each limited, merged in claim order (``Merge Append``) and limited
  again, so a claim reads its own shards' rows only (one shard: one scan, its rows
  locked as it finds them, as by the claim index); the chosen rows are then locked
  by address (``ctid``) with ``FOR UPDATE SKIP LOCKED``, the conditions checked again
  on the row locked, and updated by address. Without the index PostgreSQL would
  sort every pending row of the shards, so the first shape is used and a warning
  says how to create it (``setup_database``/``setup_outbox`` create it for the
  domain's ``relay_shards``). Both shapes claim the same rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from archipel.adapters.sql.engine import SqlEngine
from archipel.adapters.sql.tables import constraint_name, outbox_shard_index
from archipel.port.outbox import OUTBOX_PENDING

__all__ = ["ClaimStatements", "db_now", "ROW_COLUMNS", "SHARD_PLAN", "SHARD_PLAN_RESET"]

log = logging.getLogger("archipel.outbox")

#: seconds between two looks for a missing relay shard index (a setup may create it meanwhile)
_INDEX_LOOK_SECONDS = 60.0

#: sent (``SET LOCAL``) before a statement that reads by relay shard (claims, the direct relay's
#: choice). Once the outbox is analysed the planner has no statistics of ``mod(shard, n)`` (a
#: partial index's expression): it guesses each shard holds a handful of rows and reads all of
#: them (a bitmap scan) to sort them, instead of the ordered scan that stops at the limit —
#: 10 042 buffers against 2 809 per 1 000 rows moved with 20 000 pending (2 of 4 shards)
SHARD_PLAN = ("SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_sort = off")
#: the same settings back to the session's for what follows in the transaction
SHARD_PLAN_RESET = ("SET LOCAL enable_bitmapscan TO DEFAULT", "SET LOCAL enable_sort TO DEFAULT")

ROW_COLUMNS = (
    "id",
    "message_id",
    "stream",
    "shard",
    "type",
    "priority",
    "correlation_id",
    "message",
    "status",
    "attempts",
    "lease_owner",
    "lease_until",
    "created_at",
    "sent_at",
    "last_error",
)


#: a row's address (PostgreSQL): the claim updates the row versions it locked by it
_CTID: Any = sa.literal_column("ctid")


def db_now(engine: SqlEngine) -> Any:
    """The database's current time in epoch seconds, as a SQL expression."""
    if engine.is_postgres:
        return sa.extract("epoch", sa.func.now())
    # julianday('now') is constant within one statement, like now() in PostgreSQL
    return (sa.func.julianday("now") - 2440587.5) * 86400.0


class ClaimStatements:
    """The claim ``UPDATE`` statements of one outbox table, compiled once per shape."""

    def __init__(self, engine: SqlEngine, table: sa.Table) -> None:
        self.engine = engine
        self.table = table
        self._compiled: dict[tuple[int, bool, bool, int], str] = {}
        #: relay shard counts -> whether the claim index by relay shard exists (and when to look again)
        self.shard_index: dict[int, tuple[bool, float]] = {}

    def pending(self) -> list[Any]:
        """The conditions of a claimable row: pending, not leased (or the lease expired)."""
        c = self.table.c
        # a literal, not a parameter: the planner must see it to use the partial indexes of pending rows
        return [
            c.status == sa.literal_column(f"'{OUTBOX_PENDING}'"),
            sa.or_(c.lease_until.is_(None), c.lease_until < db_now(self.engine)),
        ]

    def _rechecked(self) -> list[Any]:
        """The pending conditions of a refetch by address (``ctid = ANY(...)``), checked again
        on the row locked. ``status || ''``, not ``status``: the planner cannot prove from it the
        predicate of the partial indexes of pending rows, so it never walks one of them to refetch
        the chosen rows (of an outbox never analysed it guessed a pending index tiny and walked
        it whole: 876 buffers for 100 rows at 4 000 pending); it fetches them by address (a Tid
        Scan) or, on a table of a few pages, reads those."""
        c = self.table.c
        status = c.status.op("||")(sa.literal_column("''"))
        return [status == sa.literal_column(f"'{OUTBOX_PENDING}'"), self.pending()[1]]

    def excluded(self) -> Any:
        """The condition leaving out the rows whose stream starts with ``:exclude``."""
        c = self.table.c
        return sa.not_(c.stream.startswith(sa.bindparam("exclude", type_=c.stream.type)))

    def claimable(self, select: Any, shards: int, exclude: bool = False) -> Any:
        """``select`` limited to the claimable rows, in claim order: pending, not leased (or the
        lease expired), of the shards ``:s<i>`` modulo ``:of`` when ``shards > 0``, not of
        streams starting with ``:exclude`` with ``exclude``; at most ``:limit``."""
        c = self.table.c
        conditions = self.pending()
        if shards:
            of = sa.bindparam("of", type_=sa.Integer())
            conditions.append(
                (c.shard % of).in_([sa.bindparam(f"s{i}", type_=sa.Integer()) for i in range(shards)])
            )
        if exclude:
            conditions.append(self.excluded())
        return (
            select.where(*conditions)
            .order_by(c.priority.desc(), c.id)
            .limit(sa.bindparam("limit", type_=sa.Integer()))
            .offset(0)  # SQLite's compiler would add an OFFSET parameter of its own
        )

    @staticmethod
    def params(
        shards: Sequence[int] | None, of: int, exclude_prefix: str | None
    ) -> tuple[tuple[int, bool], dict[str, Any]]:
        """``(shards, exclude)`` of :meth:`claimable` and the parameters it binds (``:limit`` aside)."""
        params: dict[str, Any] = {}
        wanted = sorted(set(shards)) if shards is not None and of > 1 else []
        if wanted:
            params["of"] = of
            params.update({f"s{i}": shard for i, shard in enumerate(wanted)})
        if exclude_prefix:
            if any(ch in exclude_prefix for ch in "%_\\"):
                raise ValueError(f"exclude_prefix {exclude_prefix!r}: LIKE wildcards are not supported")
            params["exclude"] = exclude_prefix
        return (len(wanted), bool(exclude_prefix)), params

    def statement(self, shards: int, exclude: bool, encoded: bool, by_shard_of: int = 0) -> str:
        """The claim ``UPDATE`` (compiled once per shape): by relay shard, modulo
        ``by_shard_of``, when it is not 0 (and ``shards > 0``, PostgreSQL), else by the
        claim index. With ``exclude``, not of rows whose stream starts with ``:exclude``.
        With ``encoded``, it returns ``id``, ``stream``, ``priority`` and the message as
        the stored JSON text."""
        key = (shards, exclude, encoded, by_shard_of if shards else 0)
        sql = self._compiled.get(key)
        if sql is None:
            chosen = self._by_shard(*key[:2], key[3]) if key[3] else self._by_index(shards, exclude)
            sql = self._compiled[key] = self._update(chosen, encoded)
        return sql

    def _by_index(self, shards: int, exclude: bool) -> Any:
        c = self.table.c
        if self.engine.is_postgres:
            # concurrent relays skip each other's rows instead of queueing behind them; the rows
            # locked are updated by address (ctid: the version locked), not looked up by
            # primary key again. = ANY(ARRAY(...)): with IN (...) the planner may hash-join
            # the subquery against a scan of the whole table, sent rows included
            available = self.claimable(
                sa.select(_CTID).select_from(self.table), shards, exclude
            ).with_for_update(skip_locked=True)
            return _CTID == sa.any_(sa.func.array(available.correlate(None).scalar_subquery()))
        return c.id.in_(self.claimable(sa.select(c.id), shards, exclude).scalar_subquery())

    def _by_shard(self, shards: int, exclude: bool, of: int) -> Any:
        c = self.table.c
        limit = sa.bindparam("limit", type_=sa.Integer())
        # the index's expression exactly (a constant, not a parameter), or the planner cannot use it
        relay_shard = sa.func.mod(c.shard, sa.literal_column(str(int(of))))
        ctid = _CTID
        if shards == 1:  # no merge: the rows are locked as the scan finds them
            conditions = [*self.pending(), relay_shard == sa.bindparam("s0", type_=sa.Integer())]
            if exclude:
                conditions.append(self.excluded())
            only = (
                sa.select(ctid)
                .select_from(self.table)
                .where(*conditions)
                .order_by(c.priority.desc(), c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .correlate(None)
            )
            return ctid == sa.any_(sa.func.array(only.scalar_subquery()))
        branches = []
        for i in range(shards):
            conditions = [*self.pending(), relay_shard == sa.bindparam(f"s{i}", type_=sa.Integer())]
            if exclude:
                conditions.append(self.excluded())
            branches.append(
                sa.select(ctid.label("row_address"), c.priority, c.id)
                .where(*conditions)
                .order_by(c.priority.desc(), c.id)
                .limit(limit)  # each branch limited: an ordered index scan, merged lazily
                .correlate(None)
            )
        merged = (sa.union_all(*branches) if len(branches) > 1 else branches[0]).subquery("mine")
        first = (
            sa.select(merged.c.row_address)
            .order_by(merged.c.priority.desc(), merged.c.id)
            .limit(limit)
        )
        # locked by address, skipping rows another claim holds; a row changed since this
        # statement's snapshot is checked again on its newest version (and left out:
        # its address changed)
        locked = (
            sa.select(ctid)
            .select_from(self.table)
            .where(ctid == sa.any_(sa.func.array(first.scalar_subquery())), *self._rechecked())
            .with_for_update(skip_locked=True)
            .correlate(None)
        )
        return ctid == sa.any_(sa.func.array(locked.scalar_subquery()))

    def locking(self, shards: int, exclude: bool, of: int) -> str:
        """The direct relay's choice of rows by relay shard (PostgreSQL, the index of ``of``
        relay shards): ``id``, ``stream``, ``priority`` of the claimable rows of the shards
        ``:s<i>``, locked ``FOR UPDATE`` — waited for, never skipped — at most ``:limit``.

        One shard: one ordered scan locking as it goes. Several: the merged scans of the
        claim (:meth:`_by_shard`) choose the rows, which are then locked by address; a row
        changed meanwhile (moved by a former owner of its shard) is left out, so the result
        ends with one more row ``(NULL, NULL, n)``: ``n`` rows were chosen (fewer than
        ``:limit``: the shards were drained)."""
        key = (-shards, exclude, True, of)
        sql = self._compiled.get(key)
        if sql is not None:
            return sql
        c = self.table.c
        limit = sa.bindparam("limit", type_=sa.Integer())
        relay_shard = sa.func.mod(c.shard, sa.literal_column(str(int(of))))

        def conditions(i: int) -> list[Any]:
            found = [*self.pending(), relay_shard == sa.bindparam(f"s{i}", type_=sa.Integer())]
            return [*found, self.excluded()] if exclude else found

        if shards == 1:
            chosen: Any = (
                sa.select(c.id, c.stream, c.priority)
                .where(*conditions(0))
                .order_by(c.priority.desc(), c.id)
                .limit(limit)
                .with_for_update()
            )
        else:
            branches = [
                sa.select(_CTID.label("row_address"), c.priority, c.id)
                .where(*conditions(i))
                .order_by(c.priority.desc(), c.id)
                .limit(limit)
                for i in range(shards)
            ]
            merged = sa.union_all(*branches).subquery("mine")
            first = (
                sa.select(merged.c.row_address)
                .order_by(merged.c.priority.desc(), merged.c.id)
                .limit(limit)
                .cte("first")
            )
            locked = (
                sa.select(c.id, c.stream, c.priority)
                .where(
                    _CTID == sa.any_(sa.func.array(sa.select(first.c.row_address).scalar_subquery())),
                    *self._rechecked(),
                )
                .with_for_update()
                .subquery("locked")
            )
            counted = sa.select(
                sa.cast(sa.null(), c.id.type), sa.cast(sa.null(), c.stream.type),
                sa.cast(sa.func.count(), c.priority.type),
            ).select_from(first)
            chosen = sa.union_all(sa.select(locked.c.id, locked.c.stream, locked.c.priority), counted)
        sql = self._compiled[key] = self.engine.compile(chosen)
        return sql

    def _update(self, chosen: Any, encoded: bool) -> str:
        c = self.table.c
        return self.engine.compile(
            self.table.update()
            .where(chosen)
            .values(
                lease_owner=sa.bindparam("worker", type_=c.lease_owner.type),
                lease_until=db_now(self.engine) + sa.bindparam("lease", type_=sa.Double()),
                attempts=c.attempts + 1,
            )
            .returning(
                *(
                    [c.id, c.stream, c.priority, sa.cast(c.message, sa.Text())]
                    if encoded
                    else [c[n] for n in ROW_COLUMNS]
                )
            )
        )

    def shard_index_ddl(self, of: int) -> str:
        """``CREATE INDEX`` of the index that claims by relay shard need (for messages)."""
        return str(sa.schema.CreateIndex(outbox_shard_index(self.table, of), if_not_exists=True).compile(
            dialect=self.engine.dialect
        ))

    def has_shard_index(self, of: int) -> bool:
        """Whether the claim index of ``of`` relay shards exists (looked up at most once a
        minute while missing); warns once, with its DDL, when it does not."""
        known = self.shard_index.get(of)
        now = time.monotonic()
        if known is not None and (known[0] or now < known[1]):
            return known[0]
        name = constraint_name(self.table.name, f"pending_of{of}_idx")
        sql = (
            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = %(table)s AND indexname = %(index)s"
        )
        found = self.engine.run(
            lambda conn: conn.execute(sql, {"table": self.table.name, "index": name}).fetchone()
        )
        if found is None and known is None:
            log.warning(
                "outbox table %r has no index %r for relay_shards = %d: each relay's claim reads "
                "the other relays' pending rows too (correct, slower with more relays). "
                "domain.setup_outbox() (`archipel database setup-outbox`) creates it, or: %s",
                self.table.name, name, of, self.shard_index_ddl(of),
            )
        self.shard_index[of] = (found is not None, now + _INDEX_LOOK_SECONDS)
        return found is not None
