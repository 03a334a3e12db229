"""The SQL event store: an append-only table of messages.

Appends are idempotent by message id (``INSERT ... ON CONFLICT (message_id)
DO NOTHING``: a resent batch stores nothing and ``append`` returns 0) and
``(stream, position)`` is unique, so a second writer of the same position
gets :class:`~archipel.errors.ExpectedVersionError`. A message without a
position gets the next one of its stream, computed in the same statement.
A batch is one multi-row ``INSERT ... RETURNING`` (chunks of
:data:`CHUNK` rows).

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
from sqlalchemy.dialects import postgresql, sqlite

from archipel.adapters.memory.event_store import category_of
from archipel.adapters.sql.engine import SqlEngine, dumps, loads
from archipel.adapters.sql.gapfree import GapFreeReader, stuck_transactions
from archipel.adapters.sql.tables import constraint_name, events_table
from archipel.adapters.sql.transaction import SqlTransaction, unique_violation
from archipel.errors import ConfigurationError, ExpectedVersionError, SchemaMissingError
from archipel.port.event_store import StoredMessage

__all__ = ["SqlEventStore", "create_event_store", "CHUNK", "EVENTS_TABLE"]

log = logging.getLogger("archipel.sql")

#: rows per INSERT statement (PostgreSQL allows 65535 parameters, SQLite 32766)
CHUNK = 500
EVENTS_TABLE = "archipel_events"
_NO_END = 2**62
_COLUMNS = (
    "message_id",
    "stream",
    "category",
    "type",
    "kind",
    "position",
    "correlation_id",
    "causation_id",
    "time",
    "metadata",
    "data",
)


def _utc(value: _dt.datetime) -> _dt.datetime:
    return value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)


class SqlEventStore:
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
        self._last_sql = compile_(sa.select(sa.func.max(c.position)).where(stream))
        self._count_sql = compile_(sa.select(sa.func.count()).select_from(t))
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
    def statement_count(self, messages: int) -> int:
        """Statements an append of ``messages`` takes (a transaction may then skip BEGIN)."""
        return (messages + CHUNK - 1) // CHUNK

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
        explicit = self.statement_count(len(messages)) > 1

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

    def insert(self, cursor: Any, messages: Sequence[Any]) -> list[tuple[Any, int, int]]:
        """Insert ``messages`` with ``cursor``; return ``(metadata, global_position, position)``
        of the new ones, to be set on the messages once the transaction commits."""
        stored: list[tuple[Any, int, int]] = []
        for start in range(0, len(messages), CHUNK):
            chunk = messages[start : start + CHUNK]
            params = self.params(chunk)
            try:
                cursor.execute(self._insert(len(chunk)), params)
                rows = cursor.fetchall()
            except Exception as exc:
                if unique_violation(exc) is not None:
                    raise self.position_conflict(cursor, chunk) from exc
                raise
            by_id = {row[0]: (row[1], row[2]) for row in rows}
            for message in chunk:
                meta = message._metadata
                found = by_id.pop(meta.id, None)
                if found is not None:
                    stored.append((meta, int(found[0]), int(found[1])))
        return stored

    def _keys(self, prefix: str, row: int) -> tuple[str, ...]:
        found = self._bind_keys.get((prefix, row))
        if found is None:
            names = (*_COLUMNS[:6], "offset", *_COLUMNS[6:])
            found = self._bind_keys[(prefix, row)] = tuple(
                f"{prefix}{name}_{row}" for name in names
            )
        return found

    def params(self, messages: Sequence[Any], prefix: str = "") -> dict[str, Any]:
        """Bind values of an insert of ``messages`` (see :meth:`insert_statement`)."""
        postgres = self.engine.is_postgres
        params: dict[str, Any] = {}
        # positions known from earlier messages of the batch, and how many
        # position-less messages of a stream came before any known one
        following: dict[str, int] = {}
        unknown: dict[str, int] = {}
        for i, message in enumerate(messages):
            meta = message._metadata
            stream = meta.stream
            position = meta.position
            offset = 0
            if position is not None:
                following[stream] = position + 1
            elif stream in following:
                position = following[stream]
                following[stream] = position + 1
            else:
                offset = unknown.get(stream, 0)
                unknown[stream] = offset + 1
            data = meta.to_dict()
            moment = meta.time
            if moment is not None:
                # PostgreSQL parses the ISO text itself (any offset); SQLite compares
                # the text, so it is stored in UTC
                moment = (
                    data["time"]
                    if postgres and moment.tzinfo is not None
                    else _utc(moment).isoformat()
                )
            data["position"] = position
            (k_id, k_stream, k_category, k_type, k_kind, k_position, k_offset, k_correlation,
             k_causation, k_time, k_metadata, k_data) = self._keys(prefix, i)  # fmt: skip
            params[k_id] = meta.id
            params[k_stream] = stream
            params[k_category] = category_of(stream)
            params[k_type] = meta.type or type(message).__name__
            params[k_kind] = meta.kind
            params[k_position] = position
            params[k_offset] = offset
            params[k_correlation] = meta.correlation_id
            params[k_causation] = meta.causation_id
            params[k_time] = moment
            params[k_metadata] = dumps(data)
            params[k_data] = dumps(message.to_dict())
        return params

    def _insert(self, rows: int) -> str:
        sql = self._insert_sql.get(rows)
        if sql is None:
            sql = self._insert_sql.setdefault(rows, self._compile_insert(rows))
        return sql

    def _compile_insert(self, rows: int) -> str:
        return self.engine.compile(self.insert_statement(rows))

    def insert_statement(self, rows: int, prefix: str = "") -> Any:
        """``INSERT`` of ``rows`` messages, idempotent by id, returning what was stored.

        Bind names are ``<prefix><column>_<row>``; a message without a position
        gets the stream's next one (``offset`` counts the position-less messages
        of the same stream before it in the batch).
        """
        t = self.table
        c = t.c
        e = t.alias("e")
        values = []
        for i in range(rows):
            row: dict[str, Any] = {
                name: sa.bindparam(f"{prefix}{name}_{i}", type_=c[name].type) for name in _COLUMNS
            }
            last = (
                sa.select(sa.func.coalesce(sa.func.max(e.c.position), -1))
                .where(e.c.stream == row["stream"])
                .scalar_subquery()
            )
            row["position"] = sa.func.coalesce(
                row["position"], last + 1 + sa.bindparam(f"{prefix}offset_{i}", type_=sa.Integer())
            )
            values.append(row)
        dialect_insert = postgresql.insert if self.engine.is_postgres else sqlite.insert
        return (
            dialect_insert(t)
            .values(values)
            .on_conflict_do_nothing(index_elements=["message_id"])
            .returning(c.message_id, c.global_position, c.position)
        )

    def owns_constraint(self, exc: BaseException) -> bool:
        """Whether ``exc`` violates this table's ``(stream, position)`` uniqueness."""
        constraint = unique_violation(exc)
        if constraint is None:
            return False
        return constraint == self._position_constraint or constraint == (
            f"{self.table.name}.stream, {self.table.name}.position"
        )

    def position_conflict(self, cursor: Any, chunk: Sequence[Any]) -> ExpectedVersionError:
        """The error naming the stream whose position was taken (looked up: drivers do not say).

        On PostgreSQL the failed statement aborted its transaction, so the lookup
        runs on another connection and ``cursor`` is not used.
        """
        metas = [m._metadata for m in chunk]
        conflict = None
        seen: set[tuple[str, int]] = set()
        for meta in metas:
            if meta.position is not None:
                if (meta.stream, meta.position) in seen:
                    conflict = meta  # twice in the batch itself
                    break
                seen.add((meta.stream, meta.position))
        if conflict is None:
            explicit = [m for m in metas if m.position is not None]

            def taken(conn: Any) -> Any:
                for meta in explicit:
                    params = {"stream": meta.stream, "start": meta.position, "end": meta.position}
                    if conn.execute(self._stream_sql, params).fetchone() is not None:
                        return meta
                return None

            if self.engine.is_postgres:
                # the failed statement aborted the transaction: ask on another connection
                conflict = self.engine.run(taken)
            else:
                conflict = taken(cursor.connection)
        meta = conflict or metas[0]
        return ExpectedVersionError(
            f"stream {meta.stream!r} already has a message at position {meta.position}: another "
            "writer got there first; reload and retry",
            stream=meta.stream,
            expected=meta.position,
        )

    # -- reading --------------------------------------------------------------------
    def _rows(self, sql: str, params: dict[str, Any]) -> list[StoredMessage]:
        rows = self.engine.run(lambda conn: conn.execute(sql, params).fetchall())
        return [_stored(row) for row in rows]

    def read_stream(
        self, stream: str, from_position: int = 0, to_position: int | None = None
    ) -> list[StoredMessage]:
        end = _NO_END if to_position is None else to_position
        return self._rows(self._stream_sql, {"stream": stream, "start": from_position, "end": end})

    def at_version(self, stream: str, version: int) -> list[StoredMessage]:
        """The messages of ``stream`` up to position ``version`` (inclusive)."""
        return self.read_stream(stream, 0, version)

    def as_of(self, stream: str, when: _dt.datetime) -> list[StoredMessage]:
        """The messages of ``stream`` written at or before ``when`` (naive means UTC)."""
        moment: Any = _utc(when)
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
