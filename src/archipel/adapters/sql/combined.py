"""PostgreSQL: a whole unit of work's writes as one statement.

A statement is atomic by itself, so a transaction sent as one statement
needs no ``BEGIN`` or ``COMMIT`` round trips: one round trip (and one WAL
flush) per unit of work, instead of one per statement plus two. Every write
becomes a data-modifying CTE::

    WITH p0 AS (INSERT INTO processed ...),
         w0 AS (INSERT INTO shop_order ... RETURNING id),
         w1 AS (UPDATE shop_customer ... WHERE id = ... AND _version = ... RETURNING id),
         e0 AS (INSERT INTO archipel_events ... RETURNING message_id, global_position, position),
         o  AS (INSERT INTO archipel_outbox ...)
    SELECT g.ok, u.* FROM (SELECT 1 / CASE WHEN <every guard holds> THEN 1 ELSE 0 END AS ok) g
    LEFT JOIN (SELECT ... FROM e0) u ON true

Errors abort the statement and so everything in it: unique violations
(an identity inserted twice, a stream position taken, a message's processed
record already there) as usual, and the
*guards* — an optimistic ``UPDATE`` that matched no row — through a division by zero in the final
select, which is the one way plain SQL has to fail a statement on a count.
The error is then looked up (which row, which version) and reported as the
multi-statement path would report it. The SQL of each *shape* of write set
(tables, kinds of write, row counts) is compiled once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from archipel.adapters.sql.records import EXPECTED_PARAM, PK_PARAM, RecordTable
from archipel.adapters.sql.tables import VERSION, constraint_name
from archipel.adapters.sql.writes import duplicate, unique_violation
from archipel.errors import ArchipelError, DuplicateMessageError

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase
    from archipel.adapters.sql.event_store import SqlEventStore
    from archipel.adapters.sql.prepared import PreparedStatement
    from archipel.adapters.sql.transaction import SqlTransaction

__all__ = ["OneStatement", "MAX_ROWS"]

_DIVISION_BY_ZERO = "22012"
_CACHE_LIMIT = 256
# the largest write sets sent as one statement (see OneStatement.fits)
_MAX_WRITES = 8
_MAX_ROWS = MAX_ROWS = 16
INSERT, UPDATE, DELETE = "insert", "update", "delete"
_WRITE_PREFIXES = tuple(f"w{i}_" for i in range(32))


def _processed_keys(i: int) -> tuple[str, str, str]:
    return (f"p{i}_subscription", f"p{i}_message_id", f"p{i}_processed_at")


_PROCESSED_KEYS = tuple(_processed_keys(i) for i in range(_MAX_WRITES))


class OneStatement:
    """Compiles and runs write sets as single statements for one database."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        self._cache: dict[Any, PreparedStatement] = {}
        #: prepared.run_prepared, imported at the first commit (psycopg is imported lazily)
        self._run: Any = None

    @staticmethod
    def fits(tx: SqlTransaction) -> bool:
        """Whether the transaction's writes are a unit of work's, not a batch's.

        Each shape of write set is compiled once; the large, varied write sets of
        batches (the server's) would compile a new statement nearly every time,
        where the per-kind statements are compiled once. They gain little anyway:
        the round trips saved are few next to what they write.
        """
        events = sum([len(messages) for _, messages in tx.pending_events]) if tx.pending_events else 0
        return (
            tx.write_count + len(tx.pending_processed) <= _MAX_WRITES
            and events <= _MAX_ROWS
            and len(tx.pending_outbox) <= _MAX_ROWS
        )

    # -- building -----------------------------------------------------------------------
    def _compile(
        self,
        shape: Any,
        writes: list[tuple[RecordTable, str]],
        events: list[tuple[SqlEventStore, int]],
    ) -> PreparedStatement:
        processed_count, _, _, outbox_count = shape
        # constants must be literals before the statements hide in CTEs
        inline = self.db.engine.inline
        ctes: list[Any] = []
        guards: list[Any] = []
        processed = self.db.processed
        pc = processed.c
        for i in range(processed_count):
            # a plain INSERT: a record already there (a twin's) fails the statement on the
            # records' key (named afterwards, _explain). ``ON CONFLICT DO NOTHING`` and a guard
            # on its count cost a speculative insertion (one WAL record more) per message
            insert = postgresql.insert(processed).values(
                subscription=sa.bindparam(f"p{i}_subscription", type_=pc.subscription.type),
                message_id=sa.bindparam(f"p{i}_message_id", type_=pc.message_id.type),
                processed_at=sa.bindparam(f"p{i}_processed_at", type_=pc.processed_at.type),
            )
            ctes.append(insert.cte(f"p{i}"))
        for i, (table, kind) in enumerate(writes):
            t = table.table
            c = t.c
            prefix = f"w{i}_"
            pk = c[table.id_field] == sa.bindparam(prefix + PK_PARAM, type_=c[table.id_field].type)
            if kind == INSERT:
                statement: Any = t.insert().values(
                    {n: sa.bindparam(prefix + n, type_=c[n].type) for n in table.read_names}
                )
            elif kind == UPDATE:
                statement = (
                    t.update()
                    .where(
                        pk,
                        c[VERSION] == sa.bindparam(prefix + EXPECTED_PARAM, type_=c[VERSION].type),
                    )
                    .values(
                        {
                            n: sa.bindparam(prefix + n, type_=c[n].type)
                            for n in table.read_names
                            if n != table.id_field
                        }
                    )
                )
            else:
                statement = t.delete().where(pk)
            cte = inline(statement.returning(c[table.id_field])).cte(f"w{i}")
            ctes.append(cte)
            if kind == UPDATE:
                guards.append(cte)
        stored = []
        for k, (store, rows) in enumerate(events):
            cte = inline(store.insert_statement(rows, prefix=f"e{k}_")).cte(f"e{k}")
            ctes.append(cte)
            stored.append(sa.select(cte.c.message_id, cte.c.global_position, cte.c.position))
        if outbox_count:
            ctes.append(
                inline(self.db.outbox().insert_statement(outbox_count, prefix="o_")).cte("o")
            )
        if guards:
            holds = sa.and_(
                *[sa.select(sa.func.count()).select_from(g).scalar_subquery() == 1 for g in guards]
            )
            # 1 / 0 fails the statement, and with it every write in it
            ok: Any = sa.literal_column("1", sa.Integer()) / sa.case((holds, 1), else_=0)
        else:
            ok = sa.literal_column("1", sa.Integer())
        check = sa.select(ok.label("ok")).subquery("g")
        if stored:
            union = (stored[0] if len(stored) == 1 else sa.union_all(*stored)).subquery("u")
            final: Any = sa.select(
                check.c.ok, union.c.message_id, union.c.global_position, union.c.position
            )
            final = final.select_from(check.outerjoin(union, sa.true()))
        else:
            final = sa.select(check.c.ok)
        from archipel.adapters.sql.prepared import PreparedStatement, run_prepared

        self._run = run_prepared
        return PreparedStatement(self.db.engine.compile(final.add_cte(*ctes)))

    # -- running ------------------------------------------------------------------------
    def run(self, conn: Any, tx: SqlTransaction) -> list[tuple[Any, int, int]]:
        """Send the transaction's writes as one statement on ``conn`` (autocommit)."""
        db = self.db
        processed = tx.pending_processed
        writes = [(w, _kind(w)) for w in tx.pending_writes]
        events = tx.pending_events
        outbox = tx.pending_outbox
        shape = (
            len(processed),
            tuple([(w.table.name, id(w.table), kind) for w, kind in writes]),
            tuple([(id(store), len(messages)) for store, messages in events]) if events else (),
            len(outbox),
        )
        statement = self._cache.get(shape)
        if statement is None:
            statement = self._compile(
                shape,
                [(w.table, kind) for w, kind in writes],
                [(store, len(messages)) for store, messages in events],
            )
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[shape] = statement
        params: dict[str, Any] = {}
        now = db.clock()
        for i, (subscription, message_id) in enumerate(processed):
            names = _PROCESSED_KEYS[i] if i < len(_PROCESSED_KEYS) else _processed_keys(i)
            params[names[0]] = subscription
            params[names[1]] = message_id
            params[names[2]] = now
        for i, (write, kind) in enumerate(writes):
            keys = write.table.keys(_WRITE_PREFIXES[i] if i < len(_WRITE_PREFIXES) else f"w{i}_")
            params[keys[-2]] = write.identity
            if kind == DELETE:
                continue
            write.table.bind(write.record, write.expected + 1, params, keys)
            if kind == UPDATE:
                params[keys[-1]] = write.guard
        for k, (store, messages) in enumerate(events):
            params.update(store.params(messages, prefix=f"e{k}_"))
        if outbox:
            params.update(db.outbox().params(outbox, prefix="o_"))
        try:
            # a prepared statement run through libpq (prepared.py): psycopg's cursor machinery
            # was a third of the consumer's CPU per message with one message per transaction
            rows = self._run(conn, statement, params)
        except Exception as exc:
            raise self._explain(exc, tx, writes) from exc
        if not events:
            return []
        by_id = {row[1]: (row[2], row[3]) for row in rows if len(row) > 1 and row[1] is not None}
        stored: list[tuple[Any, int, int]] = []
        for _, messages in events:
            for message in messages:
                meta = message._metadata
                found = by_id.pop(meta.id, None)
                if found is not None:
                    stored.append((meta, int(found[0]), int(found[1])))
        return stored

    def _explain(
        self, exc: Exception, tx: SqlTransaction, writes: Sequence[tuple[Any, str]]
    ) -> Exception:
        """The archipel error for a failed one-statement commit (looked up after the fact)."""
        engine = self.db.engine
        if tx.pending_processed and unique_violation(exc) == constraint_name(self.db.processed.name, "pkey"):
            for subscription, message_id in tx.pending_processed:
                params = {"subscription": subscription, "message_id": message_id}
                if engine.run(_fetch_one(self.db.processed_exists_sql, params)) is not None:
                    return duplicate(subscription, message_id)
            subscription, message_id = tx.pending_processed[0]  # (recorded, then removed meanwhile)
            return DuplicateMessageError(
                f"{subscription}: message {message_id} (or another of this transaction) was handled meanwhile by a twin"
            )
        if getattr(exc, "sqlstate", None) == _DIVISION_BY_ZERO:
            for write, kind in writes:
                if kind != UPDATE:
                    continue
                table = write.table
                row = engine.run(_fetch_one(table.version_sql, {PK_PARAM: write.identity}))
                actual = -1 if row is None else int(row[0])
                if actual != write.guard:
                    return tx.conflict(write, actual)
        try:
            for write, kind in writes:
                if kind == INSERT:
                    tx.explain_integrity(exc, write, only=write.table.name)
            for store, messages in tx.pending_events:
                if store.owns_constraint(exc):
                    return store.position_conflict(None, messages)
        except ArchipelError as explained:
            return explained
        return engine.translate(exc)


def _fetch_one(sql: str, params: dict[str, Any]) -> Callable[[Any], Any]:
    return lambda conn: conn.execute(sql, params).fetchone()


def _kind(write: Any) -> str:
    if write.record is None or not isinstance(write.record, dict):
        return DELETE
    return INSERT if write.guard == -1 else UPDATE
