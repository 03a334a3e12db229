"""The embedded durable broker: streams with consumer groups in the SQL database.

``[brokers.default] provider = "database"`` stores streams in the domain's
SQLite or PostgreSQL database (``database = "<name>"``, default
``"default"``; or its own ``database_uri``), so the async pipeline — outbox,
relay, subscriptions — runs with no server besides the database. Same
contract as Redis Streams (:mod:`archipel.port.broker`).

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
and record pending entries in one transaction. A blocking read waits for a
publish (:mod:`archipel.adapters.sql.wakeup`: rung in this process, pushed
with ``NOTIFY`` from others on PostgreSQL) and looks cheaply (one indexed
``EXISTS``) when woken, or every ``_POLL_SECONDS`` on SQLite, whose other
processes cannot push.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from archipel.adapters.payload import check_payload
from archipel.adapters.sql.engine import SqlEngine, dumps, loads
from archipel.adapters.sql.wakeup import BROKER, announce, bell, fallback_seconds
from archipel.errors import ConfigurationError, SchemaMissingError
from archipel.port.broker import Entry, PublishCallback

__all__ = ["DatabaseBroker"]

T = TypeVar("T")

#: entries per acknowledging statement (SQLite allows 999 parameters)
_ACK_CHUNK = 500
#: pause between two polls of a blocking read
_POLL_SECONDS = 0.02
#: how long a group, once seen, is trusted to exist (reads then start with the cheap probe)
_GROUPS_RECHECK_SECONDS = 5.0
_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_GROUP = "stream = :stream AND grp = :grp"
# @P@ is the (validated) table prefix, @LOCK@ "FOR UPDATE" on PostgreSQL
_STATEMENTS = {
    "allocate": "INSERT INTO @P@_streams (stream, last_seq) VALUES (:stream, :n) "
    "ON CONFLICT (stream) DO UPDATE SET last_seq = @P@_streams.last_seq + excluded.last_seq "
    "RETURNING last_seq",
    "insert_entry": "INSERT INTO @P@_entries (stream, seq, payload) VALUES (:stream, :seq, :payload)",
    "new_group": "INSERT INTO @P@_groups (stream, grp, last_delivered) VALUES (:stream, :grp, 0) "
    "ON CONFLICT (stream, grp) DO NOTHING",
    "lock_group": "SELECT last_delivered FROM @P@_groups WHERE @G@@LOCK@",
    "unread": "SELECT seq, payload FROM @P@_entries WHERE stream = :stream AND seq > :after "
    "ORDER BY seq LIMIT :count",
    "add_pending": "INSERT INTO @P@_pending (stream, grp, seq, consumer, delivered_at, deliveries) "
    "VALUES (:stream, :grp, :seq, :consumer, :at, 1)",
    "move_cursor": "UPDATE @P@_groups SET last_delivered = :last WHERE @G@",
    "ack": "DELETE FROM @P@_pending WHERE @G@ AND seq = :seq",
    "stale": "SELECT seq FROM @P@_pending WHERE @G@ AND delivered_at <= :cutoff "
    "ORDER BY seq LIMIT :count",
    "take": "UPDATE @P@_pending SET consumer = :consumer, delivered_at = :at, "
    "deliveries = deliveries + 1 WHERE @G@ AND seq = :seq",
    "entry": "SELECT payload FROM @P@_entries WHERE stream = :stream AND seq = :seq",
    "deliveries": "SELECT seq, deliveries FROM @P@_pending WHERE @G@ AND seq >= :low AND seq <= :high",
    "own": "SELECT p.seq, e.payload FROM @P@_pending p JOIN @P@_entries e "
    "ON e.stream = p.stream AND e.seq = p.seq "
    "WHERE p.stream = :stream AND p.grp = :grp AND p.consumer = :consumer ORDER BY p.seq LIMIT :count",
    "pending": "SELECT count(*) FROM @P@_pending WHERE @G@",
    "pending_min": "SELECT min(seq) FROM @P@_pending WHERE @G@",
    "groups": "SELECT grp, last_delivered FROM @P@_groups WHERE stream = :stream",
    "group": "SELECT last_delivered FROM @P@_groups WHERE @G@",
    "count_after": "SELECT count(*) FROM @P@_entries WHERE stream = :stream AND seq > :after",
    "max_seq": "SELECT max(seq) FROM @P@_entries WHERE stream = :stream",
    "last_seq": "SELECT last_seq FROM @P@_streams WHERE stream = :stream",
    "count": "SELECT count(*) FROM @P@_entries WHERE stream = :stream",
    "trim": "DELETE FROM @P@_entries WHERE stream = :stream AND seq < :below",
    "streams": "SELECT stream FROM @P@_streams UNION SELECT stream FROM @P@_groups",
    "truncate": "DELETE FROM @P@_pending;DELETE FROM @P@_groups;DELETE FROM @P@_entries;"
    "DELETE FROM @P@_streams",
}
_ACK_MANY = "DELETE FROM @P@_pending WHERE stream = :stream AND grp = :grp AND seq IN (@SEQS@)"
_PROBE = (
    "SELECT 1 FROM @P@_entries e JOIN @P@_groups g ON g.stream = e.stream "
    "WHERE g.grp = :grp AND e.stream IN (@NAMES@) AND e.seq > g.last_delivered LIMIT 1"
)


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
        #: another process reaches these streams, unless they live in an in-memory SQLite database
        self.shared_between_processes = not self.engine.is_memory
        prefix = str(self.config.get("table_prefix", "archipel_broker"))
        if not _IDENTIFIER.match(prefix):
            raise ConfigurationError(
                f"[brokers.{name}] table_prefix = {prefix!r}: use lowercase letters, digits and _"
            )
        self.prefix = prefix
        self.streams_t, self.entries_t, self.groups_t, self.pending_t = _tables(
            sa.MetaData(), prefix
        )
        self._ready = False
        self._ready_lock = threading.Lock()
        self._sql = self._compile()
        self._probes: dict[int, str] = {}
        self._acks: dict[int, str] = {}
        #: (stream, group) pairs known to exist: their reads may start with the read-only probe
        self._groups_known: set[tuple[str, str]] = set()
        self._groups_checked = time.monotonic()

    def __repr__(self) -> str:
        return f"<DatabaseBroker {self.name!r} {self.engine.safe_url}>"

    # -- statements -------------------------------------------------------------
    def _compile(self) -> dict[str, str]:
        """The statements, written once in SQL both dialects accept (``:name`` parameters)."""
        lock = " FOR UPDATE" if self.engine.is_postgres else ""
        return {
            name: self._dialect(
                sql.replace("@P@", self.prefix).replace("@LOCK@", lock).replace("@G@", _GROUP)
            )
            for name, sql in _STATEMENTS.items()
        }

    def _dialect(self, sql: str) -> str:
        """``:name`` parameters as the driver wants them (psycopg: ``%(name)s``)."""
        if self.engine.is_postgres:
            return _PARAM.sub(lambda m: f"%({m.group(1)})s", sql)
        return sql

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
    def _transaction(
        self, work: Callable[[Any], T], *, retry: bool = True, relaxed: bool = False
    ) -> T:
        """Run ``work(cursor)`` in one transaction (retried once on a dead pooled connection).

        ``relaxed``: PostgreSQL commits it without waiting for the WAL flush — for
        deliveries and acknowledgements, whose loss in a server crash only means
        entries delivered again (consumers drop the copies by message id).
        """
        self._setup()
        engine = self.engine
        relax = relaxed and engine.is_postgres

        def run(conn: Any) -> T:
            cursor = conn.cursor()
            try:
                cursor.execute(engine.begin_sql)
                if relax:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                try:
                    result = work(cursor)
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
                return result
            finally:
                cursor.close()

        return engine.run(run, retry=retry)

    def _read_only(self, work: Callable[[Any], T], nothing: T) -> T:
        """Run a read; before the broker's tables exist it is ``nothing`` (a read creates none).

        Status commands and the observatory read a broker that may never have
        been used: they must not create its tables.
        """

        def run(conn: Any) -> T:
            cursor = conn.cursor()
            try:
                return work(cursor)
            finally:
                cursor.close()

        try:
            return self.engine.run(run)
        except SchemaMissingError:
            if self._ready:
                raise
            return nothing

    # -- publishing -----------------------------------------------------------------
    def on_publish(self, callback: PublishCallback | None) -> None:
        """Ignored: entries are delivered by ``archipel server``, in any process."""

    def publish(self, stream: str, payload: dict[str, Any]) -> str:
        check_payload(payload)
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

        ids = self._transaction(work)
        announce(self.engine, BROKER)  # push: wake consumers, here and in other processes
        return ids

    # -- consuming -------------------------------------------------------------------
    def has_group(self, stream: str, group: str) -> bool:
        """Whether ``group`` exists on ``stream`` (a new subscription catches up when not)."""
        params = {"stream": stream, "grp": group}
        return self._read_only(lambda cur: cur.execute(self._sql["group"], params).fetchone(), None) is not None

    def trimmed(self, stream: str) -> bool:
        """Whether entries were ever trimmed from ``stream`` (a new group would miss them)."""

        def work(cur: Any) -> bool:
            row = cur.execute(self._sql["last_seq"], {"stream": stream}).fetchone()
            if row is None or not row[0]:
                return False
            count = cur.execute(self._sql["count"], {"stream": stream}).fetchone()[0]
            return int(row[0]) > int(count)

        return self._read_only(work, False)

    def ensure_group(self, stream: str, group: str) -> None:
        self._transaction(
            lambda cur: cur.execute(self._sql["new_group"], {"stream": stream, "grp": group})
        )
        self._groups_known.add((stream, group))

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
        doorbell = bell(BROKER)
        known = self._groups_known
        if time.monotonic() > self._groups_checked + _GROUPS_RECHECK_SECONDS:
            # another process may have dropped the tables meanwhile: take once more in a while
            known.clear()
            self._groups_checked = time.monotonic()
        # a group is created by its first read (or ensure_group); the probe cannot see it before
        first = any((stream, group) not in known for stream in streams)
        while True:
            # read before looking: a publish after the look rings a later generation
            seen = doorbell.generation
            # the probe is read-only; taking writes (cursor, pending entries): only when needed
            if first or self._anything_new(group, streams):
                got = self._take(group, consumer, streams, count)
                known.update((stream, group) for stream in streams)
                if got:
                    return got
            first = False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            # woken by a publish of this process or, on PostgreSQL, a NOTIFY from another;
            # else look again after the poll interval (SQLite shared by several processes)
            poll = fallback_seconds(self.engine, _POLL_SECONDS)
            doorbell.wait(seen, min(poll, remaining))

    def _anything_new(self, group: str, streams: Sequence[str]) -> bool:
        """One cheap indexed query: has any of ``streams`` an entry ``group`` has not read?"""
        sql = self._probes.get(len(streams))
        if sql is None:
            names = ", ".join(f":s{i}" for i in range(len(streams)))
            sql = self._probes[len(streams)] = self._dialect(
                _PROBE.replace("@P@", self.prefix).replace("@NAMES@", names)
            )
        params: dict[str, Any] = {f"s{i}": name for i, name in enumerate(streams)}
        params["grp"] = group
        return bool(self._read_only(lambda cur: cur.execute(sql, params).fetchone(), None))

    def _take(self, group: str, consumer: str, streams: Sequence[str], count: int) -> list[Entry]:
        sql = self._sql
        now = time.time()

        def work(cursor: Any) -> list[Entry]:
            out: list[Entry] = []
            for stream in dict.fromkeys(streams):
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

        # no blind retry: had the COMMIT gone through before the connection dropped, a second
        # read would skip what the first delivered; the consumer calls own_pending instead
        return self._transaction(work, retry=False, relaxed=True)

    def ack(self, group: str, ids_by_stream: Mapping[str, Sequence[str]]) -> int:
        chunks: list[tuple[str, dict[str, Any]]] = []
        for stream, ids in ids_by_stream.items():
            seqs = sorted({_seq(entry_id) for entry_id in ids})
            for start in range(0, len(seqs), _ACK_CHUNK):
                part = seqs[start : start + _ACK_CHUNK]
                params: dict[str, Any] = {"stream": stream, "grp": group}
                params.update({f"q{i}": seq for i, seq in enumerate(part)})
                chunks.append((self._ack_sql(len(part)), params))
        if not chunks:
            return 0

        def work(cursor: Any) -> int:
            done = 0
            for sql, params in chunks:  # one statement per chunk: its rowcount is portable
                cursor.execute(sql, params)
                done += max(0, int(cursor.rowcount))
            return done

        # an acknowledgement lost in a crash leaves the entries pending: run again, dropped
        return self._transaction(work, relaxed=True)

    def _ack_sql(self, count: int) -> str:
        sql = self._acks.get(count)
        if sql is None:
            names = ", ".join(f":q{i}" for i in range(count))
            # placeholders only, and the validated table prefix: no value is spliced in
            sql = self._acks[count] = self._dialect(
                _ACK_MANY.replace("@P@", self.prefix).replace("@SEQS@", names)
            )
        return sql

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

    def own_pending(
        self, group: str, consumer: str, streams: Sequence[str], count: int = 1000
    ) -> list[Entry]:
        def work(cursor: Any) -> list[Entry]:
            out: list[Entry] = []
            for stream in dict.fromkeys(streams):
                params = {"stream": stream, "grp": group, "consumer": consumer, "count": count}
                rows = cursor.execute(self._sql["own"], params).fetchall()
                out += [Entry(stream, f"{int(seq)}-0", loads(payload)) for seq, payload in rows]
            return out

        return self._read_only(work, [])

    # -- inspecting and housekeeping -----------------------------------------------
    def delivery_counts(self, stream: str, group: str, ids: Sequence[str]) -> dict[str, int]:
        if not ids:
            return {}
        wanted = {_seq(i): i for i in ids}
        params = {"stream": stream, "grp": group, "low": min(wanted), "high": max(wanted)}
        nothing: list[Any] = []
        rows = self._read_only(lambda cur: cur.execute(self._sql["deliveries"], params).fetchall(), nothing)
        return {wanted[int(seq)]: int(n) for seq, n in rows if int(seq) in wanted}

    def pending(self, stream: str, group: str) -> int:
        return int(
            self._read_only(
                lambda cur: cur.execute(
                    self._sql["pending"], {"stream": stream, "grp": group}
                ).fetchone()[0],
                0,
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

        return self._read_only(work, 0)

    def length(self, stream: str) -> int:
        """Entries currently stored in ``stream``."""
        return int(
            self._read_only(
                lambda cur: cur.execute(
                    self._sql["count_after"], {"stream": stream, "after": -1}
                ).fetchone()[0],
                0,
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
                for r in self._read_only(lambda cur: cur.execute(self._sql["streams"]).fetchall(), list[Any]())
            }
        )

    def truncate(self) -> None:
        statements = self._sql["truncate"].split(";")
        self._transaction(lambda cur: [cur.execute(s) for s in statements])
        self._groups_known.clear()

    def drop(self) -> None:
        """Drop the broker's tables."""
        tables = (self.pending_t, self.groups_t, self.entries_t, self.streams_t)
        self.engine.execute_ddl([sa.schema.DropTable(t, if_exists=True) for t in tables])
        self._ready = False
        self._groups_known.clear()

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()
