"""Relaying under the relay shard leases alone (PostgreSQL): one write per row relayed.

A claim (:mod:`~archipel.adapters.sql.outbox_claim`) writes a row lease into every
row it takes — a lock and a new row version — and the mark writes the row once more
(``status = 'sent'``: never a HOT update, ``status`` being in the partial indexes'
predicate). A relay that holds the relay shard leases of the rows, in the lease table
of the outbox's own database, needs no row lease:

- :meth:`FencedRelaying.read` reads the claimable rows of its shards (pending, no live
  row lease of another relay, in claim order, by the same index as a claim) without
  writing them, leaving out the ids ``skip`` — the rows it is still publishing or
  marking: a read ahead never returns them again;
- :meth:`FencedRelaying.mark_sent` marks rows sent in one statement that also checks,
  in the lease table, that the relay still holds the lease of each row's relay shard it
  read it under, unexpired (database clock) and with the token it read it with (a lease
  given back and taken again has a new token): a relay whose shard lease ran out or moved
  marks none of that shard's rows — the new owner relays them again, first, and consumers
  drop the copies.

What a row lease gave and how it holds without one: a relay taking a shard over reads
the former owner's unmarked rows first (they are pending; a former owner gives shards
back only after its marks landed, so a graceful hand-over publishes nothing twice);
row leases that relays of an older version wrote are still honoured (such rows are
not read, and ``held_elsewhere`` still holds a new owner back); a crash leaves the rows
pending (nothing was written) and they are read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from archipel.adapters.sql.connections import execute_relaxed
from archipel.adapters.sql.outbox_claim import ROW_COLUMNS, SHARD_PLAN
from archipel.port.outbox import OUTBOX_PENDING, OUTBOX_SENT, ShardFence

if TYPE_CHECKING:
    from archipel.adapters.sql.outbox import SqlOutbox

__all__ = ["FencedRelaying"]

# the statuses written literally in _MARK
assert (OUTBOX_PENDING, OUTBOX_SENT) == ("pending", "sent")

#: @O@: the outbox table, @L@: the lease table (both quoted). The relay shards still held are
#: found once per statement (an uncorrelated subquery: an InitPlan), before any row is written.
#: ``status || ''``: the planner cannot prove from it the predicate of the partial indexes of
#: pending rows, so it finds the rows by primary key; with ``status = 'pending'`` it walked the
#: pending rows of an outbox not analysed since its backlog grew (20 000 pending: 17 ms instead
#: of 1.6 ms for 500 rows)
_MARK = (
    "UPDATE @O@ SET status = 'sent', sent_at = extract(epoch FROM now()),"  # noqa: S608 - quoted names only
    " attempts = attempts + 1, lease_owner = NULL, lease_until = NULL"
    " WHERE id = ANY(%(ids)s) AND status || '' = 'pending'"
    " AND (lease_until IS NULL OR lease_until < extract(epoch FROM now()))"
    " AND mod(shard, %(of)s) = ANY(ARRAY(SELECT f.shard FROM @L@ l"
    " JOIN unnest(%(lease_ids)s::text[], %(tokens)s::bigint[], %(shards)s::int[]) AS f(id, token, shard)"
    " ON l.id = f.id AND l.token = f.token"
    " WHERE l.owner = %(owner)s AND l.expires_at >= extract(epoch FROM now())))"
)


class FencedRelaying:
    """The read and the fenced mark of one PostgreSQL outbox (see the module)."""

    def __init__(self, outbox: SqlOutbox) -> None:
        self.outbox = outbox
        self.engine = outbox.engine
        self._reads: dict[tuple[int, bool, bool, int], str] = {}
        self._marks: dict[str, str] = {}

    def _columns(self, table: Any, encoded: bool) -> list[Any]:
        c = table.c
        if encoded:
            return [c.id, c.stream, c.priority, sa.cast(c.message, sa.Text()).label("message")]
        return [c[n] for n in ROW_COLUMNS]

    def _read_sql(self, shards: int, exclude: bool, encoded: bool, by_shard_of: int) -> str:
        key = (shards, exclude, encoded, by_shard_of if shards else 0)
        sql = self._reads.get(key)
        if sql is not None:
            return sql
        table = self.outbox.table
        c = table.c
        # NOT IN a subquery: a hashed SubPlan, also in a generic plan (prepared statements);
        # NOT (id = ANY(:skip)) searched the array linearly for each row then: ~20 us a row
        skipped = sa.select(sa.func.unnest(sa.bindparam("skip", type_=sa.ARRAY(c.id.type))))
        skip = c.id.not_in(skipped.scalar_subquery())
        columns = self._columns(table, encoded)
        if not key[3]:  # by the claim index
            select = self.outbox.claims.claimable(sa.select(*columns), shards, exclude).where(skip)
        elif shards == 1:  # one ordered scan of the index of relay shards
            select = self._one_shard(columns, exclude, skip, key[3])
        else:
            select = self._merged(columns, shards, exclude, skip, key[3])
        sql = self._reads[key] = self.engine.compile(select)
        return sql

    def _shard_conditions(self, i: int, exclude: bool, skip: Any, of: int) -> list[Any]:
        claims = self.outbox.claims
        c = self.outbox.table.c
        relay_shard = sa.func.mod(c.shard, sa.literal_column(str(int(of))))
        found = [*claims.pending(), relay_shard == sa.bindparam(f"s{i}", type_=sa.Integer()), skip]
        return [*found, claims.excluded()] if exclude else found

    def _one_shard(self, columns: list[Any], exclude: bool, skip: Any, of: int) -> Any:
        c = self.outbox.table.c
        return (
            sa.select(*columns)
            .where(*self._shard_conditions(0, exclude, skip, of))
            .order_by(c.priority.desc(), c.id)
            .limit(sa.bindparam("limit", type_=sa.Integer()))
        )

    def _merged(self, columns: list[Any], shards: int, exclude: bool, skip: Any, of: int) -> Any:
        """One ordered, limited scan per shard (the index of relay shards), merged in claim order."""
        c = self.outbox.table.c
        limit = sa.bindparam("limit", type_=sa.Integer())
        branches = [
            sa.select(*columns)
            .where(*self._shard_conditions(i, exclude, skip, of))
            .order_by(c.priority.desc(), c.id)
            .limit(limit)
            for i in range(shards)
        ]
        merged = sa.union_all(*branches).subquery("mine")
        return sa.select(merged).order_by(merged.c.priority.desc(), merged.c.id).limit(limit)

    def read(
        self,
        limit: int,
        shards: Sequence[int] | None,
        of: int,
        exclude_prefix: str | None,
        skip: Sequence[int],
        encoded: bool,
    ) -> list[Any]:
        """Up to ``limit`` claimable rows — as a claim with the same arguments would lease
        them, in claim order — but for those of ids ``skip``; nothing written."""
        outbox = self.outbox
        (count, exclude), params = outbox.claim_params(shards, of, exclude_prefix)
        params.update({"limit": limit, "skip": [int(i) for i in skip]})
        by_shard = of if count and outbox.has_shard_index(of) else 0
        sql = self._read_sql(count, exclude, encoded, by_shard)

        def read(conn: Any) -> list[Any]:
            if by_shard:  # the plan settings need a transaction (no write: nothing flushed)
                return list(execute_relaxed(conn, sql, params, SHARD_PLAN).fetchall())
            return list(conn.execute(sql, params).fetchall())

        return list(self.engine.run(read))

    def mark_sent(self, ids: Sequence[int], fence: ShardFence) -> int:
        """Mark the rows ``ids`` sent if ``fence.owner`` still holds every lease of ``fence``
        (see the module); return how many were marked."""
        if not ids:
            return 0
        sql = self._marks.get(fence.table)
        if sql is None:
            quote = self.engine.engine.dialect.identifier_preparer.quote
            sql = _MARK.replace("@O@", quote(self.outbox.table.name)).replace("@L@", quote(fence.table))
            self._marks[fence.table] = sql
        params = {
            "ids": [int(i) for i in ids],
            "of": max(1, int(fence.of)),
            "lease_ids": [lease_id for lease_id, _, _ in fence.leases],
            "tokens": [int(token) for _, token, _ in fence.leases],
            "shards": [int(shard) for _, _, shard in fence.leases],
            "owner": fence.owner,
        }
        # a mark lost in a crash leaves the rows to be relayed again (consumers drop the
        # copies): its commit need not wait for the WAL flush
        return int(
            self.engine.run(lambda conn: execute_relaxed(conn, sql, params).rowcount, retry=False)
        )
