"""The SQL outbox: rows written in the business transaction, claimed by relays with leases.

Same contract as :class:`archipel.adapters.memory.outbox.MemoryOutbox`.
``claim`` leases pending rows (highest priority, then oldest, first) in one
``UPDATE ... RETURNING`` whose rows are chosen ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so concurrent relays take disjoint rows without waiting for
each other; a relay holding some of the relay shards reads only those shards'
rows there (:mod:`~archipel.adapters.sql.outbox_claim`). On SQLite the
statement runs inside ``BEGIN IMMEDIATE`` (one writer at a time). ``mark_sent`` only succeeds while the caller's
lease holds (fencing). Times are epoch seconds from the *database's* clock,
so relays on machines whose clocks disagree still agree on leases.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from archipel.adapters.sql.engine import SqlEngine, dumps, execute_relaxed, loads
from archipel.adapters.sql.outbox_claim import ROW_COLUMNS as _ROW
from archipel.adapters.sql.outbox_claim import SHARD_PLAN, ClaimStatements, db_now
from archipel.adapters.sql.outbox_fenced import FencedRelaying
from archipel.adapters.sql.tables import outbox_shard_index, outbox_table
from archipel.port.outbox import (
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENT,
    OutboxRow,
    ShardFence,
    sharded,
)

__all__ = ["SqlOutbox", "OUTBOX_TABLE", "db_now"]

log = logging.getLogger("archipel.outbox")

OUTBOX_TABLE = "archipel_outbox"
_INSERTED = ("message_id", "stream", "shard", "type", "priority", "correlation_id", "message")


class SqlOutbox:
    """Relay-side access to one database's outbox table (``[databases.<name>]``)."""

    def __init__(self, engine: SqlEngine, metadata: sa.MetaData, name: str = OUTBOX_TABLE) -> None:
        self.engine = engine
        self.table = outbox_table(metadata, name, engine.is_postgres)
        t = self.table
        c = t.c
        now = db_now(engine)
        compile_ = engine.compile
        self._insert_sql = compile_(
            t.insert().values(
                message_id=sa.bindparam("message_id", type_=c.message_id.type),
                stream=sa.bindparam("stream", type_=c.stream.type),
                shard=sa.bindparam("shard", type_=c.shard.type),
                type=sa.bindparam("type", type_=c.type.type),
                priority=sa.bindparam("priority", type_=c.priority.type),
                correlation_id=sa.bindparam("correlation_id", type_=c.correlation_id.type),
                message=sa.bindparam("message", type_=c.message.type),
                status=OUTBOX_PENDING,
                attempts=0,
                created_at=now,
            )
        )
        self.claims = ClaimStatements(engine, self.table)
        #: relaying without row leases, fenced on the relay shard leases (PostgreSQL)
        self.fenced = FencedRelaying(self) if engine.is_postgres else None
        self._shard_index = self.claims.shard_index  # (the same dict: tests set it)
        self._pending_sql = compile_(
            sa.select(sa.func.count()).where(c.status == sa.literal_column(f"'{OUTBOX_PENDING}'"))
        )
        self._purge_sql = compile_(
            t.delete().where(
                c.status == OUTBOX_SENT, c.sent_at <= now - sa.bindparam("older", type_=sa.Double())
            )
        )
        self._by_ids: dict[tuple[str, int], str] = {}
        #: (prefix, row) -> the bind names of that row of :meth:`insert_statement`
        self._row_names: dict[tuple[str, int], tuple[str, ...]] = {}
        self._held: dict[tuple[int, int], str] = {}
        self._release_all_sql = compile_(
            t.update()
            .where(
                c.status == sa.literal_column(f"'{OUTBOX_PENDING}'"),
                c.lease_owner == sa.bindparam("worker", type_=c.lease_owner.type),
            )
            .values(lease_owner=None, lease_until=None)
        )

    def claimable(self, select: Any, shards: int, exclude: bool = False) -> Any:
        """See :meth:`ClaimStatements.claimable`."""
        return self.claims.claimable(select, shards, exclude)

    def claim_params(
        self, shards: Sequence[int] | None, of: int, exclude_prefix: str | None
    ) -> tuple[tuple[int, bool], dict[str, Any]]:
        """See :meth:`ClaimStatements.params`."""
        return self.claims.params(shards, of, exclude_prefix)

    def add_shard_index(self, of: int) -> None:
        """Declare the claim index of ``of`` relay shards (PostgreSQL; ``setup`` creates it)."""
        if self.engine.is_postgres and of > 1:
            outbox_shard_index(self.table, of)

    def has_shard_index(self, of: int) -> bool:
        """See :meth:`ClaimStatements.has_shard_index`."""
        return self.claims.has_shard_index(of)

    # -- writing (in the business transaction) ----------------------------------------
    @staticmethod
    def _values(record: dict[str, Any]) -> dict[str, Any]:
        """The bind values of one row (:meth:`params` writes the same, row by row)."""
        return {
            "message_id": record["message_id"],
            "stream": record["stream"],
            "shard": record["shard"],  # set once, by the transaction (or _sharded)
            "type": record.get("type"),
            "priority": record.get("priority") or 0,
            "correlation_id": record.get("correlation_id"),
            "message": dumps(record["message"]),
        }

    def insert(self, cursor: Any, records: Iterable[dict[str, Any]]) -> None:
        """Add rows with ``cursor`` (the business transaction's connection); each record
        carries its ``shard`` (``SqlTransaction.add_outbox`` sets it; else
        :func:`~archipel.port.outbox.sharded`)."""
        params = [self._values(r) for r in records]
        if len(params) == 1:
            cursor.execute(self._insert_sql, params[0])
        elif params:
            cursor.executemany(self._insert_sql, params)

    def insert_statement(self, rows: int, prefix: str = "") -> Any:
        """A multi-row ``INSERT`` of ``rows`` records; binds ``<prefix><column>_<row>``."""
        c = self.table.c
        now = db_now(self.engine)
        values = [
            {
                **{
                    name: sa.bindparam(f"{prefix}{name}_{i}", type_=c[name].type)
                    for name in _INSERTED
                },
                # SQL expressions, not Python values: multi-row VALUES would bind those
                "status": sa.literal(OUTBOX_PENDING),
                "attempts": sa.literal(0),
                "created_at": now,
            }
            for i in range(rows)
        ]
        return self.table.insert().values(values)

    def params(self, records: Sequence[dict[str, Any]], prefix: str = "") -> dict[str, Any]:
        """Bind values of :meth:`insert_statement` for ``records`` (each carrying its ``shard``):
        :meth:`_values`' for each row, under its row's names (made once per prefix and row)."""
        params: dict[str, Any] = {}
        names = self._row_names
        for i, record in enumerate(records):
            keys = names.get((prefix, i))
            if keys is None:
                keys = names[(prefix, i)] = tuple(f"{prefix}{name}_{i}" for name in _INSERTED)
            k_id, k_stream, k_shard, k_type, k_priority, k_correlation, k_message = keys
            get = record.get
            params[k_id] = record["message_id"]
            params[k_stream] = record["stream"]
            params[k_shard] = record["shard"]
            params[k_type] = get("type")
            params[k_priority] = get("priority") or 0
            params[k_correlation] = get("correlation_id")
            params[k_message] = dumps(record["message"])
        return params

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        """Add rows in a transaction of their own (tests, tools)."""
        rows = sharded(records)

        def write(conn: Any) -> None:
            cursor = conn.cursor()
            try:
                cursor.execute(self.engine.begin_sql)
                self.insert(cursor, rows)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.close()

        self.engine.run(write, retry=False)

    def add_missing(self, records: Sequence[dict[str, Any]], dry_run: bool = False) -> list[dict[str, Any]]:
        """See :mod:`archipel.adapters.sql.outbox_repair`."""
        from archipel.adapters.sql.outbox_repair import add_missing

        return add_missing(self, records, dry_run)

    # -- relaying ---------------------------------------------------------------------
    def claim(
        self,
        worker: str,
        limit: int = 100,
        lease_seconds: float = 30.0,
        shards: Sequence[int] | None = None,
        of: int = 1,
        exclude_prefix: str | None = None,
    ) -> list[OutboxRow]:
        rows = [
            self._row(r)
            for r in self._claim(worker, limit, lease_seconds, shards, of, exclude_prefix, False)
        ]
        rows.sort(key=lambda r: (-(r["priority"] or 0), r["id"]))
        return rows

    def claim_encoded(
        self,
        worker: str,
        limit: int = 100,
        lease_seconds: float = 30.0,
        shards: Sequence[int] | None = None,
        of: int = 1,
        exclude_prefix: str | None = None,
    ) -> list[OutboxRow]:
        """:meth:`claim` for a relay whose broker takes encoded payloads (``publish_encoded``):
        the same rows leased the same way, each with only ``id``, ``stream``, ``priority``
        and ``message`` — the JSON text as stored (what the broker would encode the message
        to: no decoding here, no encoding there)."""
        claimed = self._claim(worker, limit, lease_seconds, shards, of, exclude_prefix, True)
        rows = [
            {"id": row_id, "stream": stream, "priority": priority, "message": message}
            for row_id, stream, priority, message in claimed
        ]
        rows.sort(key=lambda r: (-(r["priority"] or 0), r["id"]))
        return rows

    def _claim(
        self,
        worker: str,
        limit: int,
        lease_seconds: float,
        shards: Sequence[int] | None,
        of: int,
        exclude_prefix: str | None,
        encoded: bool,
    ) -> list[Any]:
        (count, exclude), params = self.claim_params(shards, of, exclude_prefix)
        params.update({"worker": worker, "limit": limit, "lease": float(lease_seconds)})
        postgres = self.engine.is_postgres
        by_shard = of if postgres and count and self.has_shard_index(of) else 0
        sql = self.claims.statement(count, exclude, encoded, by_shard)

        def claim(conn: Any) -> list[Any]:
            if postgres:
                # a claim lost in a crash only means rows relayed again: no WAL flush waited for
                plan = SHARD_PLAN if by_shard else ()
                return list(execute_relaxed(conn, sql, params, plan).fetchall())
            conn.execute(self.engine.begin_sql)
            try:
                rows = list(conn.execute(sql, params).fetchall())
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return rows

        return list(self.engine.run(claim, retry=False))

    def read_claimable(
        self,
        limit: int = 100,
        shards: Sequence[int] | None = None,
        of: int = 1,
        exclude_prefix: str | None = None,
        skip: Sequence[int] = (),
        encoded: bool = False,
    ) -> list[OutboxRow]:
        """The rows :meth:`claim` would lease (with ``encoded``: :meth:`claim_encoded`'s
        columns), in claim order, but for the ids ``skip``, none of them leased: for a relay
        that marks them with a :class:`~archipel.port.outbox.ShardFence` (PostgreSQL only;
        :mod:`~archipel.adapters.sql.outbox_fenced`)."""
        if self.fenced is None:
            raise NotImplementedError("relaying without row leases needs PostgreSQL")
        found = self.fenced.read(limit, shards, of, exclude_prefix, skip, encoded)
        if encoded:
            return [
                {"id": row_id, "stream": stream, "priority": priority, "message": message}
                for row_id, stream, priority, message in found
            ]
        return [self._row(r) for r in found]

    def held_elsewhere(self, worker: str, shards: Sequence[int] | None = None, of: int = 1) -> int:
        c = self.table.c
        wanted = sorted(set(shards)) if shards is not None and of > 1 else []
        params: dict[str, Any] = {"worker": worker}
        conditions = [
            c.status == sa.literal_column(f"'{OUTBOX_PENDING}'"),  # the partial index of pending rows
            c.lease_owner != sa.bindparam("worker", type_=c.lease_owner.type),
            c.lease_until >= db_now(self.engine),
        ]
        # by the index of relay shards where it exists: the other shards' rows are not read
        by_shard = of if wanted and self.engine.is_postgres and self.has_shard_index(of) else 0
        if wanted:
            params.update({f"s{i}": shard for i, shard in enumerate(wanted)})
            relay_shard: Any
            if by_shard:  # the index's expression exactly: a constant, not a parameter
                relay_shard = sa.func.mod(c.shard, sa.literal_column(str(int(of))))
            else:
                params["of"] = of
                relay_shard = c.shard % sa.bindparam("of", type_=sa.Integer())
            conditions.append(
                relay_shard.in_([sa.bindparam(f"s{i}", type_=sa.Integer()) for i in range(len(wanted))])
            )
        sql = self._held.get((len(wanted), by_shard))
        if sql is None:
            sql = self._held[(len(wanted), by_shard)] = self.engine.compile(
                sa.select(sa.func.count()).select_from(self.table).where(*conditions)
            )
        return int(self.engine.run(lambda conn: conn.execute(sql, params).fetchone()[0]))

    def _ids_sql(self, kind: str, count: int) -> str:
        """The statement of :meth:`_update` for ``count`` ids: on PostgreSQL one for any
        count, the ids bound as one array (``= ANY(%(ids)s)``: no statement compiled per
        batch size, no thousand parameters converted per call); elsewhere ``IN`` with a
        parameter per id."""
        if self.engine.is_postgres:
            count = 0
        sql = self._by_ids.get((kind, count))
        if sql is not None:
            return sql
        c = self.table.c
        now = db_now(self.engine)
        ids = (
            c.id == sa.any_(sa.bindparam("ids", type_=sa.ARRAY(c.id.type)))
            if self.engine.is_postgres
            else c.id.in_([sa.bindparam(f"id{i}", type_=c.id.type) for i in range(count)])
        )
        # PostgreSQL: ``status || ''``, from which the planner cannot prove the partial indexes'
        # predicate: the rows are found by primary key, never by walking the pending rows (what
        # it chose on an outbox not analysed since its backlog grew: 17 ms for 500 of 20 000)
        status = c.status.op("||")(sa.literal_column("''")) if self.engine.is_postgres else c.status
        owned = [ids, status == OUTBOX_PENDING, c.lease_owner == sa.bindparam("worker", type_=c.lease_owner.type)]
        if kind == "note":  # the error of a failed publish, on rows read without a lease
            statement = (
                self.table.update()
                .where(ids, status == OUTBOX_PENDING, c.lease_owner.is_(None))
                .values(last_error=sa.bindparam("error", type_=c.last_error.type))
            )
        elif kind == "sent":
            # fencing: an expired lease may belong to another worker by now
            statement = (
                self.table.update()
                .where(*owned, sa.or_(c.lease_until.is_(None), c.lease_until >= now))
                .values(status=OUTBOX_SENT, sent_at=now, lease_owner=None, lease_until=None)
            )
        else:
            statement = (
                self.table.update()
                .where(*owned)
                .values(
                    lease_owner=None,
                    lease_until=None,
                    last_error=sa.bindparam("error", type_=c.last_error.type),
                    status=sa.bindparam("status", type_=c.status.type),
                )
            )
        sql = self.engine.compile(statement)
        if len(self._by_ids) > 256:
            self._by_ids.clear()
        self._by_ids[(kind, count)] = sql
        return sql

    def _update(self, kind: str, ids: Sequence[int], params: dict[str, Any]) -> int:
        if not ids:
            return 0
        sql = self._ids_sql(kind, len(ids))
        if self.engine.is_postgres:
            values = {**params, "ids": [int(v) for v in ids]}
        else:
            values = {**params, **{f"id{i}": int(v) for i, v in enumerate(ids)}}
        if kind == "sent" and self.engine.is_postgres:
            # a mark lost in a crash leaves the rows to be relayed again (and dropped by
            # consumers as copies): its commit need not wait for the WAL flush. Releases
            # stay durable: a lost one would leave old rows leased while newer are claimed
            return int(
                self.engine.run(
                    lambda conn: execute_relaxed(conn, sql, values).rowcount, retry=False
                )
            )
        return int(self.engine.run(lambda conn: conn.execute(sql, values).rowcount, retry=False))

    def mark_sent(self, ids: Sequence[int], worker: str, fence: ShardFence | None = None) -> int:
        """Mark rows sent while ``worker`` holds their row lease or, with ``fence``, rows read
        by :meth:`read_claimable` while ``worker`` holds the fence's shard leases."""
        if fence is not None:
            if self.fenced is None:
                raise NotImplementedError("relaying without row leases needs PostgreSQL")
            return self.fenced.mark_sent(ids, fence)
        return self._update("sent", ids, {"worker": worker})

    def release(
        self, ids: Sequence[int], worker: str, error: str | None = None, failed: bool = False
    ) -> int:
        """Give back rows leased to ``worker`` (pending again, or ``failed``), noting ``error``;
        ``error`` is also noted on those of ``ids`` that are pending and unleased: rows read
        under the shard leases (:meth:`read_claimable`) carry no lease to give back."""
        status = OUTBOX_FAILED if failed else OUTBOX_PENDING
        released = self._update("release", ids, {"worker": worker, "error": error, "status": status})
        if error is not None and released < len(ids):
            self._update("note", ids, {"error": error})
        return released

    def release_all(self, worker: str) -> int:
        sql, params = self._release_all_sql, {"worker": worker}
        return int(self.engine.run(lambda conn: conn.execute(sql, params).rowcount, retry=False))

    def pending_count(self) -> int:
        return int(self.engine.run(lambda conn: conn.execute(self._pending_sql).fetchone()[0]))

    def purge_sent(self, older_than_seconds: float = 0.0) -> int:
        params = {"older": float(older_than_seconds)}
        return int(
            self.engine.run(
                lambda conn: conn.execute(self._purge_sql, params).rowcount, retry=False
            )
        )

    def rows(self) -> list[OutboxRow]:
        """Every row, oldest first (inspection and tests)."""
        c = self.table.c
        sql = self.engine.compile(sa.select(*[c[n] for n in _ROW]).order_by(c.id))
        return [self._row(r) for r in self.engine.run(lambda conn: conn.execute(sql).fetchall())]

    def _row(self, row: Any) -> OutboxRow:
        found = dict(zip(_ROW, row, strict=True))
        message = found["message"]
        if isinstance(message, (str, bytes)):
            found["message"] = loads(message)
        return found

    def clear(self) -> None:
        self.engine.execute_ddl([sa.delete(self.table)])
