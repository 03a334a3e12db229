"""The embedded durable broker: streams with consumer groups in the SQL database.

``[brokers.default] provider = "database"`` stores streams in the domain's
SQLite or PostgreSQL database (``database = "<name>"``, default
``"default"``; or its own ``database_uri``), so the async pipeline — outbox,
relay, subscriptions — runs with no server besides the database. Same
contract as Redis Streams (:mod:`archipel.ports.broker`).

Tables: ``archipel_broker_streams`` (one row per stream: the last sequence
number), ``archipel_broker_entries`` (stream, seq, payload),
``archipel_broker_groups`` (each group's last delivered seq) and
``archipel_broker_pending`` (read, not yet acknowledged entries and who
holds them).

Sequence numbers are allocated by updating the stream's row, which holds
its lock until the publishing transaction commits: within a stream, seq
order is commit order, so a reader can never skip an entry that commits
late (the problem PostgreSQL sequences have). Reads lock the group's row
(``FOR UPDATE`` on PostgreSQL; SQLite serialises writers), move the cursor
and record pending entries in one transaction. A blocking read polls
cheaply (one indexed ``EXISTS``) until something arrives or time is up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from archipel.adapters.sql.engine import SqlEngine, dumps, loads
from archipel.errors import ArchipelError, ConfigurationError
from archipel.ports.broker import Entry, PublishCallback

__all__ = ["DatabaseBroker"]

T = TypeVar("T")

#: pause between two polls of a blocking read
_POLL_SECONDS = 0.02


def _tables(metadata: sa.MetaData, prefix: str) -> tuple[sa.Table, sa.Table, sa.Table, sa.Table]:
    text = sa.String(255)
    streams = sa.Table(
        f"{prefix}_streams",
        metadata,
        sa.Column("stream", text, primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )
    entries = sa.Table(
        f"{prefix}_entries",
        metadata,
        sa.Column("stream", text, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    groups = sa.Table(
        f"{prefix}_groups",
        metadata,
        sa.Column("stream", text, primary_key=True),
        sa.Column("grp", text, primary_key=True),
        sa.Column("last_delivered", sa.BigInteger, nullable=False),
    )
    pending = sa.Table(
        f"{prefix}_pending",
        metadata,
        sa.Column("stream", text, primary_key=True),
        sa.Column("grp", text, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("consumer", text, nullable=False),
        sa.Column("delivered_at", sa.Float, nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
    )
    return streams, entries, groups, pending


def _seq(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


class DatabaseBroker:
    """Streams in a SQL database; thread-safe (pooled connections)."""

    delivers_inline = False

    def __init__(
        self,
        name: str = "default",
        config: Mapping[str, Any] | None = None,
        *,
        databases: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.config = dict(config or {})
        if self.config.get("database_uri"):
            self.engine = SqlEngine(self.config, label=f"broker {name}")
            self._owns_engine = True
        else:
            database_name = str(self.config.get("database", "default"))
            database = (databases or {}).get(database_name)
            engine = getattr(database, "engine", None)
            if not isinstance(engine, SqlEngine):
                raise ConfigurationError(
                    f'[brokers.{name}] provider = "database" keeps its streams in the SQLite or '
                    f"PostgreSQL database {database_name!r}, which this domain does not have: "
                    f'configure [databases.{database_name}] with provider = "sqlite" or "postgresql" '
                    "(or give the broker its own database_uri)"
                )
            self.engine = engine
            self._owns_engine = False
        prefix = str(self.config.get("table_prefix", "archipel_broker"))
        self.streams_t, self.entries_t, self.groups_t, self.pending_t = _tables(
            sa.MetaData(), prefix
        )
        self._ready = False
        self._ready_lock = threading.Lock()
        self._sql = self._compile()

    def __repr__(self) -> str:
        return f"<DatabaseBroker {self.name!r} {self.engine.safe_url}>"

    # -- statements -------------------------------------------------------------
    def _compile(self) -> dict[str, str]:
        s, e, g, p = self.streams_t, self.entries_t, self.groups_t, self.pending_t
        b = sa.bindparam
        insert = postgresql.insert if self.engine.is_postgres else sqlite.insert
        compile_ = self.engine.compile
        allocate = insert(s).values(
            stream=b("stream", type_=s.c.stream.type), last_seq=b("n", type_=sa.BigInteger)
        )
        allocate = allocate.on_conflict_do_update(
            index_elements=["stream"], set_={"last_seq": s.c.last_seq + allocate.excluded.last_seq}
        ).returning(s.c.last_seq)
        new_group = (
            insert(g)
            .values(
                stream=b("stream", type_=g.c.stream.type),
                grp=b("grp", type_=g.c.grp.type),
                last_delivered=0,
            )
            .on_conflict_do_nothing(index_elements=["stream", "grp"])
        )
        group_key = sa.and_(
            g.c.stream == b("stream", type_=g.c.stream.type),
            g.c.grp == b("grp", type_=g.c.grp.type),
        )
        lock_group = sa.select(g.c.last_delivered).where(group_key)
        if self.engine.is_postgres:
            lock_group = lock_group.with_for_update()
        stream_is = e.c.stream == b("stream", type_=e.c.stream.type)
        pend_key = sa.and_(
            p.c.stream == b("stream", type_=p.c.stream.type),
            p.c.grp == b("grp", type_=p.c.grp.type),
        )
        return {
            "allocate": compile_(allocate),
            "insert_entry": compile_(
                sa.insert(e).values(
                    stream=b("stream", type_=e.c.stream.type),
                    seq=b("seq", type_=sa.BigInteger),
                    payload=b("payload", type_=sa.Text),
                )
            ),
            "new_group": compile_(new_group),
            "lock_group": compile_(lock_group),
            "unread": compile_(
                sa.select(e.c.seq, e.c.payload)
                .where(stream_is, e.c.seq > b("after", type_=sa.BigInteger))
                .order_by(e.c.seq)
                .limit(b("count", type_=sa.Integer))
            ),
            "anything_new": compile_(
                sa.select(sa.literal(1))
                .select_from(e.join(g, g.c.stream == e.c.stream))
                .where(g.c.grp == b("grp", type_=g.c.grp.type))
                .where(e.c.stream.in_(b("streams", expanding=True, type_=e.c.stream.type)))
                .where(e.c.seq > g.c.last_delivered)
                .limit(1)
            ),
            "add_pending": compile_(
                sa.insert(p).values(
                    stream=b("stream", type_=p.c.stream.type),
                    grp=b("grp", type_=p.c.grp.type),
                    seq=b("seq", type_=sa.BigInteger),
                    consumer=b("consumer", type_=p.c.consumer.type),
                    delivered_at=b("at", type_=sa.Float),
                    deliveries=1,
                )
            ),
            "move_cursor": compile_(
                sa.update(g).where(group_key).values(last_delivered=b("last", type_=sa.BigInteger))
            ),
            "ack": compile_(sa.delete(p).where(pend_key, p.c.seq == b("seq", type_=sa.BigInteger))),
            "stale": compile_(
                sa.select(p.c.seq)
                .where(pend_key, p.c.delivered_at <= b("cutoff", type_=sa.Float))
                .order_by(p.c.seq)
                .limit(b("count", type_=sa.Integer))
            ),
            "take": compile_(
                sa.update(p)
                .where(pend_key, p.c.seq == b("seq", type_=sa.BigInteger))
                .values(
                    consumer=b("consumer", type_=p.c.consumer.type),
                    delivered_at=b("at", type_=sa.Float),
                    deliveries=p.c.deliveries + 1,
                )
            ),
            "entry": compile_(
                sa.select(e.c.payload).where(stream_is, e.c.seq == b("seq", type_=sa.BigInteger))
            ),
            "pending": compile_(sa.select(sa.func.count()).select_from(p).where(pend_key)),
            "pending_min": compile_(sa.select(sa.func.min(p.c.seq)).where(pend_key)),
            "groups": compile_(
                sa.select(g.c.grp, g.c.last_delivered).where(
                    g.c.stream == b("stream", type_=g.c.stream.type)
                )
            ),
            "group": compile_(sa.select(g.c.last_delivered).where(group_key)),
            "count_after": compile_(
                sa.select(sa.func.count())
                .select_from(e)
                .where(stream_is, e.c.seq > b("after", type_=sa.BigInteger))
            ),
            "max_seq": compile_(sa.select(sa.func.max(e.c.seq)).where(stream_is)),
            "trim": compile_(
                sa.delete(e).where(stream_is, e.c.seq < b("below", type_=sa.BigInteger))
            ),
            "streams": compile_(sa.select(s.c.stream).union(sa.select(g.c.stream))),
        }

    def _setup(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            statements: list[Any] = []
            for table in (self.streams_t, self.entries_t, self.groups_t, self.pending_t):
                statements.append(sa.schema.CreateTable(table, if_not_exists=True))
            self.engine.execute_ddl(statements)
            self._ready = True

    # -- running ------------------------------------------------------------------
    def _transaction(self, work: Callable[[Any], T]) -> T:
        """Run ``work(cursor)`` in one transaction (retried once on a dead pooled connection)."""
        self._setup()
        engine = self.engine

        def run(conn: Any) -> T:
            cursor = conn.cursor()
            try:
                cursor.execute(engine.begin_sql)
                try:
                    result = work(cursor)
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
                return result
            finally:
                cursor.close()

        return engine.run(run)

    def _read_only(self, work: Callable[[Any], T]) -> T:
        self._setup()
        return self.engine.run(lambda conn: work(conn.cursor()))

    # -- publishing -----------------------------------------------------------------
    def on_publish(self, callback: PublishCallback | None) -> None:
        """Ignored: entries are delivered by ``archipel server``, in any process."""

    def publish(self, stream: str, payload: dict[str, Any]) -> str:
        return self.publish_many([(stream, payload)])[0]

    def publish_many(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        if not entries:
            return []
        by_stream: dict[str, list[int]] = {}
        encoded = []
        for index, (stream, payload) in enumerate(entries):
            if not isinstance(payload, dict):
                raise TypeError(f"broker payloads are dicts, got {type(payload).__name__}")
            by_stream.setdefault(stream, []).append(index)
            encoded.append(dumps(payload))
        sql = self._sql

        def work(cursor: Any) -> list[str]:
            ids = [""] * len(entries)
            rows = []
            # streams in a fixed order: two publishers never lock them crosswise
            for stream in sorted(by_stream):
                positions = by_stream[stream]
                cursor.execute(sql["allocate"], {"stream": stream, "n": len(positions)})
                last = int(cursor.fetchone()[0])
                first = last - len(positions) + 1
                for offset, index in enumerate(positions):
                    seq = first + offset
                    ids[index] = f"{seq}-0"
                    rows.append({"stream": stream, "seq": seq, "payload": encoded[index]})
            cursor.executemany(sql["insert_entry"], rows)
            return ids

        return self._transaction(work)

    # -- consuming -------------------------------------------------------------------
    def ensure_group(self, stream: str, group: str) -> None:
        self._transaction(
            lambda cur: cur.execute(self._sql["new_group"], {"stream": stream, "grp": group})
        )

    def read(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        count: int = 100,
        block_ms: int = 0,
    ) -> list[Entry]:
        if not streams:
            return []
        deadline = time.monotonic() + block_ms / 1000.0
        first = True
        while True:
            if first or self._anything_new(group, streams):
                got = self._take(group, consumer, streams, count)
                if got:
                    return got
            first = False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(_POLL_SECONDS, remaining))

    def _anything_new(self, group: str, streams: Sequence[str]) -> bool:
        sql = self._sql["anything_new"]
        params = {"grp": group, "streams": list(streams)}
        return bool(self._read_only(lambda cur: cur.execute(*self._expand(sql, params)).fetchone()))

    def _expand(self, sql: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Expand the ``streams`` list parameter into one placeholder per item."""
        items = params.pop("streams")
        names = [f"streams_{i}" for i in range(len(items))]
        marker = "%(streams)s" if self.engine.is_postgres else ":streams"
        style = "%({})s" if self.engine.is_postgres else ":{}"
        placeholder = ", ".join(style.format(n) for n in names)
        text = (
            sql.replace(f"({marker})", f"({placeholder})")
            .replace("(__[POSTCOMPILE_streams])", f"({placeholder})")
            .replace("__[POSTCOMPILE_streams]", placeholder)
        )
        params.update(zip(names, items, strict=True))
        return text, params

    def _take(self, group: str, consumer: str, streams: Sequence[str], count: int) -> list[Entry]:
        sql = self._sql
        now = time.time()

        def work(cursor: Any) -> list[Entry]:
            out: list[Entry] = []
            for stream in sorted(set(streams), key=list(streams).index):
                key = {"stream": stream, "grp": group}
                cursor.execute(sql["new_group"], key)
                cursor.execute(sql["lock_group"], key)
                after = int(cursor.fetchone()[0])
                cursor.execute(sql["unread"], {"stream": stream, "after": after, "count": count})
                rows = cursor.fetchall()
                if not rows:
                    continue
                cursor.executemany(
                    sql["add_pending"],
                    [{**key, "seq": int(seq), "consumer": consumer, "at": now} for seq, _ in rows],
                )
                cursor.execute(sql["move_cursor"], {**key, "last": int(rows[-1][0])})
                out += [Entry(stream, f"{int(seq)}-0", loads(payload)) for seq, payload in rows]
            return out

        return self._transaction(work)

    def ack(self, group: str, ids_by_stream: Mapping[str, Sequence[str]]) -> int:
        params = [
            {"stream": stream, "grp": group, "seq": _seq(entry_id)}
            for stream, ids in ids_by_stream.items()
            for entry_id in ids
        ]
        if not params:
            return 0

        def work(cursor: Any) -> int:
            done = 0
            for row in params:  # one by one: rowcount of executemany is not portable
                cursor.execute(self._sql["ack"], row)
                done += max(0, int(cursor.rowcount))
            return done

        return self._transaction(work)

    def claim_stale(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 1000
    ) -> list[Entry]:
        sql = self._sql
        now = time.time()
        key = {"stream": stream, "grp": group}

        def work(cursor: Any) -> list[Entry]:
            cursor.execute(
                sql["stale"], {**key, "cutoff": now - min_idle_ms / 1000.0, "count": count}
            )
            out: list[Entry] = []
            for (seq,) in cursor.fetchall():
                cursor.execute(sql["entry"], {"stream": stream, "seq": int(seq)})
                found = cursor.fetchone()
                if found is None:
                    cursor.execute(sql["ack"], {**key, "seq": int(seq)})  # entry gone
                    continue
                cursor.execute(
                    sql["take"], {**key, "seq": int(seq), "consumer": consumer, "at": now}
                )
                out.append(Entry(stream, f"{int(seq)}-0", loads(found[0])))
            return out

        return self._transaction(work)

    # -- inspecting and housekeeping -----------------------------------------------
    def pending(self, stream: str, group: str) -> int:
        return int(
            self._read_only(
                lambda cur: cur.execute(
                    self._sql["pending"], {"stream": stream, "grp": group}
                ).fetchone()[0]
            )
        )

    def lag(self, stream: str, group: str) -> int | None:
        def work(cur: Any) -> int:
            row = cur.execute(self._sql["group"], {"stream": stream, "grp": group}).fetchone()
            after = int(row[0]) if row is not None else 0
            return int(
                cur.execute(
                    self._sql["count_after"], {"stream": stream, "after": after}
                ).fetchone()[0]
            )

        return self._read_only(work)

    def length(self, stream: str) -> int:
        """Entries currently stored in ``stream``."""
        return int(
            self._read_only(
                lambda cur: cur.execute(
                    self._sql["count_after"], {"stream": stream, "after": -1}
                ).fetchone()[0]
            )
        )

    def trim(self, stream: str, retain: int = 0) -> int:
        sql = self._sql

        def work(cursor: Any) -> int:
            groups = cursor.execute(sql["groups"], {"stream": stream}).fetchall()
            if not groups:
                return 0
            bounds = []
            for group, last_delivered in groups:
                row = cursor.execute(
                    sql["pending_min"], {"stream": stream, "grp": group}
                ).fetchone()
                bounds.append(
                    int(row[0]) if row and row[0] is not None else int(last_delivered) + 1
                )
            below = min(bounds)
            if retain > 0:
                top = cursor.execute(sql["max_seq"], {"stream": stream}).fetchone()[0]
                below = min(below, (int(top) if top is not None else 0) - retain + 1)
            cursor.execute(sql["trim"], {"stream": stream, "below": below})
            return max(0, int(cursor.rowcount))

        return self._transaction(work)

    def streams(self) -> list[str]:
        return sorted(
            {
                r[0]
                for r in self._read_only(lambda cur: cur.execute(self._sql["streams"]).fetchall())
            }
        )

    def truncate(self) -> None:
        tables = (self.pending_t, self.groups_t, self.entries_t, self.streams_t)
        statements = [self.engine.compile(sa.delete(t)) for t in tables]
        self._transaction(lambda cur: [cur.execute(s) for s in statements])

    def drop(self) -> None:
        """Drop the broker's tables."""
        tables = (self.pending_t, self.groups_t, self.entries_t, self.streams_t)
        self.engine.execute_ddl([sa.schema.DropTable(t, if_exists=True) for t in tables])
        self._ready = False

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()


def _unused(exc: ArchipelError) -> None:  # pragma: no cover - keeps the import for typing tools
    raise exc
