"""The tables and statements of the database broker, and how it runs them.

:class:`BrokerStore` holds the four tables (streams, entries, groups,
pending), the statements — written once in SQL both SQLite and PostgreSQL
accept — and runs work in one transaction, durable or *relaxed* (on
PostgreSQL, committed without waiting for the WAL flush: for deliveries and
acknowledgements, whose loss in a server crash only means entries delivered
again).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa

from archipel.adapters.settings import SQL_ENGINE_SETTINGS, SWITCHABLE_SETTINGS, check_settings
from archipel.adapters.sql.broker_postgres import ACK, NEW_GROUPS, PUBLISH, TAKE
from archipel.adapters.sql.engine import SqlEngine
from archipel.errors import ConfigurationError, SchemaMissingError

__all__ = ["BrokerStore"]

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
PG_STATEMENTS = {"publish": PUBLISH, "take": TAKE, "new_groups": NEW_GROUPS, "ack": ACK}
_ACK_MANY = "DELETE FROM @P@_pending WHERE stream = :stream AND grp = :grp AND seq IN (@SEQS@)"
_PROBE = (
    "SELECT g.stream FROM @P@_groups g WHERE g.grp = :grp AND g.stream IN (@NAMES@) "
    "AND EXISTS (SELECT 1 FROM @P@_entries e WHERE e.stream = g.stream AND e.seq > g.last_delivered)"
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


class BrokerStore:
    """Tables, statements and transactions of one database broker (thread-safe: pooled connections)."""

    def __init__(
        self,
        name: str = "default",
        config: Mapping[str, Any] | None = None,
        *,
        databases: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.config = dict(config or {})
        check_settings(
            f"brokers.{name}", "database", self.config,
            SQL_ENGINE_SETTINGS | SWITCHABLE_SETTINGS | {"database", "table_prefix"},
        )
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
        #: PostgreSQL's one-round-trip statements (:mod:`.broker_postgres`); None on SQLite
        self._pg = (
            {name: sql.replace("@P@", prefix) for name, sql in PG_STATEMENTS.items()}
            if self.engine.is_postgres
            else None
        )
        self._probes: dict[int, str] = {}
        self._acks: dict[int, str] = {}
        #: (stream, group) pairs known to exist: their reads may start with the read-only probe
        self._groups_known: set[tuple[str, str]] = set()
        self._groups_checked = time.monotonic()
        #: (group, stream) -> the broker bell's generation when a read last found nothing there
        #: (a read skips its first look while nothing rang since: see BrokerGroupReader.read)
        self._quiet: dict[tuple[str, str], int] = {}
        #: (group, stream) -> monotonic time of the last look there (a look that took, or found
        #: nothing): with pushes, a read's wait ends with a look only once that is a while ago
        self._looked: dict[tuple[str, str], float] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.engine.safe_url}>"

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

    def drop(self) -> None:
        """Drop the broker's tables."""
        tables = (self.pending_t, self.groups_t, self.entries_t, self.streams_t)
        self.engine.execute_ddl([sa.schema.DropTable(t, if_exists=True) for t in tables])
        self._ready = False
        self._groups_known.clear()

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()
