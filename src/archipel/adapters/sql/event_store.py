"""The SQL event store: an append-only table of messages.

Appends are idempotent by message id (``INSERT ... ON CONFLICT (message_id)
DO NOTHING``: a resent batch stores nothing and ``append`` returns 0) and
``(stream, position)`` is unique, so a second writer of the same position
gets :class:`~archipel.errors.ExpectedVersionError`. A message without a
position gets the next one of its stream. A batch is one multi-row
``INSERT`` (chunks of :data:`CHUNK` rows): on PostgreSQL ``... RETURNING``
the positions, computed in the statement; on SQLite the positions are
settled before it, in the write-locked transaction
(:mod:`archipel.adapters.sql.sqlite_append`).

Given a :class:`~archipel.adapters.sql.transaction.SqlTransaction` of the
same database, ``append`` writes in it, so state, events and outbox rows
commit together; positions are set on the messages when it commits.

Reads by stream (``read_stream``, ``at_version``, ``as_of``), by
correlation id, and of the log (``read_all``, ``read_category``), which on
PostgreSQL are gap-free (:mod:`archipel.adapters.sql.gapfree`).
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from archipel.adapters.settings import SQL_ENGINE_SETTINGS, check_settings
from archipel.adapters.sql.codec import loads
from archipel.adapters.sql.engine import SqlEngine
from archipel.adapters.sql.event_insert import CHUNK, EventWriting, utc
from archipel.adapters.sql.gapfree import GapFreeReader, stuck_transactions
from archipel.adapters.sql.tables import constraint_name, events_table
from archipel.adapters.sql.transaction import SqlTransaction
from archipel.errors import ConfigurationError, SchemaMissingError
from archipel.port.event_store import StoredMessage

# CHUNK: re-exported (it lived here)
__all__ = ["SqlEventStore", "create_event_store", "CHUNK", "EVENTS_TABLE"]

log = logging.getLogger("archipel.sql")

EVENTS_TABLE = "archipel_events"
_NO_END = 2**62


class SqlEventStore(EventWriting):
    """``provider = "sqlite" | "postgresql" | "sql"`` for ``[event_store]``."""

    def __init__(
        self,
        engine: SqlEngine,
        settings: Mapping[str, Any] | None = None,
        *,
        owns_engine: bool = True,
    ) -> None:
        settings = settings or {}
        self.config = dict(settings)
        self.engine = engine
        self._owns_engine = owns_engine
        postgres = engine.is_postgres
        self.metadata = sa.MetaData()
        self.table = events_table(self.metadata, str(settings.get("table", EVENTS_TABLE)), postgres)
        t = self.table
        c = t.c
        compile_ = engine.compile
        stored = [c.global_position, c.position, c.metadata, c.data]
        stream = c.stream == sa.bindparam("stream", type_=sa.String())
        self._stream_sql = compile_(
            sa.select(*stored)
            .where(
                stream,
                c.position >= sa.bindparam("start", type_=sa.BigInteger()),
                c.position <= sa.bindparam("end", type_=sa.BigInteger()),
            )
            .order_by(c.position)
        )
        when = sa.bindparam("when", type_=c.time.type)
        self._as_of_sql = compile_(
            sa.select(*stored).where(stream, c.time <= when).order_by(c.position)
        )
        self._latest_sql = compile_(
            sa.select(*stored).where(stream).order_by(c.position.desc()).limit(1).offset(0)
        )
        self._last_sql = compile_(sa.select(sa.func.max(c.position)).where(stream))
        self._count_sql = compile_(sa.select(sa.func.count()).select_from(t))
        self._head_sql = compile_(sa.select(sa.func.max(c.global_position)))
        self._category_head_sql = compile_(
            sa.select(sa.func.max(c.global_position)).where(
                c.category == sa.bindparam("category", type_=sa.String())
            )
        )
        self._correlated_sql = compile_(
            sa.select(*stored)
            .where(c.correlation_id == sa.bindparam("correlation_id", type_=sa.String()))
            .order_by(c.global_position)
        )
        after = c.global_position > sa.bindparam("after", type_=sa.BigInteger())
        limit = sa.bindparam("limit", type_=sa.Integer())
        # an explicit OFFSET 0: SQLite's compiler would add a parameter of its own
        self._all_sql = compile_(
            sa.select(*stored).where(after).order_by(c.global_position).limit(limit).offset(0)
        )
        self._category_sql = compile_(
            sa.select(*stored)
            .where(c.category == sa.bindparam("category", type_=sa.String()), after)
            .order_by(c.global_position)
            .limit(limit)
            .offset(0)
        )
        self._gapfree = (
            GapFreeReader(engine, t, float(settings.get("stuck_warning_seconds", 10.0)))
            if postgres
            else None
        )
        if not postgres:  # the statements of sqlite_append
            self._head_of_sql = engine.compile_positional(
                sa.select(sa.func.max(c.position)).where(stream)
            )[0]
            self._range_sql = engine.compile_positional(
                sa.select(c.message_id, c.global_position, c.position)
                .where(
                    c.global_position.between(
                        sa.bindparam("first", type_=sa.Integer()),
                        sa.bindparam("last", type_=sa.Integer()),
                    )
                )
                .order_by(c.global_position)
            )[0]
        self._insert_sql: dict[int, str] = {}
        self._bind_keys: dict[tuple[str, int], tuple[str, ...]] = {}
        self._position_constraint = constraint_name(self.table.name, "stream_position_key")

    # -- schema ---------------------------------------------------------------------
    def ddl(self, *, create: bool) -> list[Any]:
        """DDL statements creating (if missing) or dropping (if present) the table."""
        if create:
            return [sa.schema.CreateTable(self.table, if_not_exists=True)] + [
                sa.schema.CreateIndex(index, if_not_exists=True) for index in self.table.indexes
            ]
        return [sa.schema.DropTable(self.table, if_exists=True)]

    def setup(self) -> None:
        """Create the events table and its indexes (idempotent)."""
        self.engine.execute_ddl(self.ddl(create=True))

    def drop(self) -> None:
        self.engine.execute_ddl(self.ddl(create=False))

    def truncate(self) -> None:
        """Delete every message (a missing table is left missing, like the other tables)."""
        if self.engine.is_postgres:
            statement: Any = sa.text(
                f"TRUNCATE {self.engine.dialect.identifier_preparer.quote(self.table.name)} RESTART IDENTITY"
            )  # noqa: S608 - quoted identifier
        else:
            statement = sa.delete(self.table)
        try:
            self.engine.execute_ddl([statement])
        except SchemaMissingError:
            pass  # nothing stored: nothing to delete

    # -- writing --------------------------------------------------------------------
    def append(self, messages: Sequence[Any], transaction: Any = None) -> int:
        """Store new messages; return how many were new (all of them, in a transaction).

        With a transaction of this store's database the rows are written when
        it commits, atomically with it, and the count is the batch size (as
        the memory store does). With any other transaction, or none, the
        messages are stored at once in a transaction of their own.
        """
        if not messages:
            return 0
        if isinstance(transaction, SqlTransaction) and transaction.engine is self.engine:
            return transaction.append_events(self, messages)
        return self._append_now(messages)

    def _append_now(self, messages: Sequence[Any]) -> int:
        engine = self.engine
        # one statement is atomic by itself (and takes SQLite's write lock before it reads)
        explicit = self.statement_count(messages) > 1

        def write(conn: Any) -> list[tuple[Any, int, int]]:
            cursor = conn.cursor()
            try:
                if explicit:
                    cursor.execute(engine.begin_sql)
                try:
                    stored = self.insert(cursor, messages)
                    if explicit:
                        cursor.execute("COMMIT")
                except BaseException:
                    if explicit:
                        cursor.execute("ROLLBACK")
                    raise
                return stored
            finally:
                cursor.close()

        # retrying is safe: an append is idempotent by message id
        stored = engine.run(write)
        for meta, global_position, position in stored:
            meta.global_position = global_position
            meta.position = position
        return len(stored)

    # -- reading --------------------------------------------------------------------
    def _rows(self, sql: str, params: dict[str, Any]) -> list[StoredMessage]:
        rows = self.engine.run(lambda conn: conn.execute(sql, params).fetchall())
        return [_stored(row) for row in rows]

    def read_stream(
        self, stream: str, from_position: int = 0, to_position: int | None = None
    ) -> list[StoredMessage]:
        end = _NO_END if to_position is None else to_position
        return self._rows(self._stream_sql, {"stream": stream, "start": from_position, "end": end})

    def read_last(self, stream: str) -> StoredMessage | None:
        """The latest message of ``stream`` (its snapshot, for a snapshot stream), or None."""
        rows = self._rows(self._latest_sql, {"stream": stream})
        return rows[0] if rows else None

    def at_version(self, stream: str, version: int) -> list[StoredMessage]:
        """The messages of ``stream`` up to position ``version`` (inclusive)."""
        return self.read_stream(stream, 0, version)

    def as_of(self, stream: str, when: _dt.datetime) -> list[StoredMessage]:
        """The messages of ``stream`` written at or before ``when`` (naive means UTC)."""
        moment: Any = utc(when)
        if not self.engine.is_postgres:
            moment = moment.isoformat()
        return self._rows(self._as_of_sql, {"stream": stream, "when": moment})

    def read_category(
        self, category: str, after_global: int = 0, limit: int = 1000
    ) -> list[StoredMessage]:
        """Messages of ``category`` after ``after_global`` (the last position handled), in log order."""
        return self._log(after_global, limit, category)

    def read_all(self, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]:
        """Messages after ``after_global`` (the last position handled), in log order."""
        return self._log(after_global, limit, None)

    def _log(self, after: int, limit: int, category: str | None) -> list[StoredMessage]:
        reader = self._gapfree
        if reader is not None:
            rows = self.engine.run(lambda conn: reader.read(conn, after, limit, category))
            return [_stored(row) for row in rows]
        if category is None:
            return self._rows(self._all_sql, {"after": after, "limit": limit})
        return self._rows(
            self._category_sql, {"after": after, "limit": limit, "category": category}
        )

    def read_correlated(self, correlation_id: str) -> list[StoredMessage]:
        return self._rows(self._correlated_sql, {"correlation_id": correlation_id})

    def last_position(self, stream: str) -> int:
        row = self.engine.run(
            lambda conn: conn.execute(self._last_sql, {"stream": stream}).fetchone()
        )
        return -1 if row is None or row[0] is None else int(row[0])

    def count(self) -> int:
        return int(self.engine.run(lambda conn: conn.execute(self._count_sql).fetchone()[0]))

    def head(self, category: str | None = None) -> int:
        """The global position of the latest message (of ``category``), 0 when none."""
        if category is None:
            sql, params = self._head_sql, {}
        else:
            sql, params = self._category_head_sql, {"category": category}
        row = self.engine.run(lambda conn: conn.execute(sql, params).fetchone())
        return 0 if row is None or row[0] is None else int(row[0])

    def stuck_transactions(self, older_than_seconds: float = 0.0) -> list[dict[str, Any]]:
        """Open writing transactions holding back readers (PostgreSQL; SQLite has none)."""
        if not self.engine.is_postgres:
            return []
        return self.engine.run(lambda conn: stuck_transactions(conn, older_than_seconds))

    @property
    def held_back_seconds(self) -> float:
        """How long log readers have been waiting for open transactions (PostgreSQL)."""
        return 0.0 if self._gapfree is None else self._gapfree.held_back_seconds

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()


def _stored(row: Any) -> StoredMessage:
    global_position, position, metadata, data = row
    meta = loads(metadata) if isinstance(metadata, (str, bytes)) else metadata
    meta["global_position"] = global_position
    meta["position"] = position
    return {"metadata": meta, "data": loads(data) if isinstance(data, (str, bytes)) else data}


def create_event_store(settings: Mapping[str, Any], database: Any = None) -> SqlEventStore:
    """The registry's factory: share ``database``'s engine when it is the same database.

    Without a ``database_uri`` the event store lives in the domain's default
    database, which must then be a SQL one of the same kind; with a URI
    naming another database it gets its own pool, and appends can no longer
    commit atomically with the state (a warning says so).
    """
    provider = str(settings.get("provider") or "sql")
    check_settings("event_store", provider, settings, SQL_ENGINE_SETTINGS | {"table", "stuck_warning_seconds"})
    uri = settings.get("database_uri")
    # a SqlDatabase (recognised by its engine: importing its module here would be a cycle)
    if isinstance(getattr(database, "engine", None), SqlEngine) and hasattr(database, "event_store"):
        if uri is None or SqlEngine.same_database(str(uri), provider, database.engine):
            if provider in ("sqlite", "postgresql") and database.engine.dialect_name != provider:
                raise ConfigurationError(
                    f"[event_store] provider {provider!r} has no database_uri and the default "
                    f"database is {database.engine.dialect_name}: give it a database_uri or use "
                    f'provider = "{database.engine.dialect_name}"'
                )
            shared: SqlEventStore = database.event_store(settings)
            return shared
    if uri is None:
        raise ConfigurationError(
            f"[event_store] provider {provider!r} needs a database_uri (or a SQL "
            '[databases.default] to share), e.g. database_uri = "sqlite:///events.db"'
        )
    engine = SqlEngine({**settings, "provider": provider}, label="event store")
    if database is not None:
        log.warning(
            "the event store (%s) is not in the default database: events and state commit "
            "in separate transactions",
            engine.safe_url,
        )
    return SqlEventStore(engine, settings, owns_engine=True)
