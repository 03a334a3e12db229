"""The SQL database adapter: ``provider = "sqlite" | "postgresql" | "sql"``.

One :class:`SqlDatabase` per ``[databases.<name>]``: an engine (pool), the
model tables generated from the domain's schemas, the outbox and the
processed-messages table, and the event store when it lives in the same
database (so a unit of work commits state, events and outbox rows in one
transaction). ``setup`` creates what is missing and never alters a table;
``drop`` and ``truncate`` act on the given schemas' tables and the
framework's tables.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from archipel.adapters.settings import SQL_ENGINE_SETTINGS, check_settings
from archipel.adapters.sql.combined import OneStatement
from archipel.adapters.sql.engine import SqlEngine
from archipel.adapters.sql.event_store import SqlEventStore
from archipel.adapters.sql.indexes import declare_indexes, raw_index_ddl
from archipel.adapters.sql.outbox import OUTBOX_TABLE, SqlOutbox
from archipel.adapters.sql.outbox_direct import DirectRelay
from archipel.adapters.sql.processed import prune_processed
from archipel.adapters.sql.query import QueryCompiler
from archipel.adapters.sql.reads import SqlReads
from archipel.adapters.sql.records import RecordTable
from archipel.adapters.sql.sqlite_commit import commit_row
from archipel.adapters.sql.tables import processed_table
from archipel.adapters.sql.transaction import SqlTransaction
from archipel.adapters.sql.wakeup import OUTBOX, announce, fallback_seconds
from archipel.errors import ConfigurationError
from archipel.port.schema import ModelSchema
from archipel.utils.doorbell import FREED

__all__ = ["SqlDatabase", "create_database", "PROCESSED_TABLE"]

PROCESSED_TABLE = "archipel_processed_messages"


class SqlDatabase:
    """A configured SQL database; see the module docstring.

    Settings beyond :class:`~archipel.adapters.sql.engine.SqlEngine`'s:
    ``outbox_table`` and ``processed_table`` (table names).
    """

    #: commits with outbox rows ring ``OUTBOX`` with the rows' relay shards (a relay waits for
    #: its own shards: :meth:`archipel.engine.relay.OutboxRelay.wake_keys`)
    rings_by_shard = True

    def __init__(self, name: str = "default", settings: Mapping[str, Any] | None = None) -> None:
        settings = dict(settings or {})
        check_settings(
            f"databases.{name}", str(settings.get("provider") or "sql"), settings,
            SQL_ENGINE_SETTINGS | {"outbox_table", "processed_table"},
        )
        self.name = name
        self.config = settings
        self.engine = SqlEngine(settings, label=name)
        self.queries = QueryCompiler(self.engine)
        self._tables: dict[str, RecordTable] = {}
        self._tables_lock = threading.Lock()
        self._metadata = sa.MetaData()
        self._outbox = SqlOutbox(
            self.engine, self._metadata, str(settings.get("outbox_table", OUTBOX_TABLE))
        )
        self.processed = processed_table(
            self._metadata,
            str(settings.get("processed_table", PROCESSED_TABLE)),
            self.engine.is_postgres,
        )
        c = self.processed.c
        key = sa.and_(
            c.subscription == sa.bindparam("subscription", type_=c.subscription.type),
            c.message_id == sa.bindparam("message_id", type_=c.message_id.type),
        )
        self.processed_exists_sql = self.engine.compile(sa.select(sa.literal(1)).where(key))
        dialect_insert = postgresql.insert if self.engine.is_postgres else sqlite.insert
        insert = (
            dialect_insert(self.processed)
            .values(
                subscription=sa.bindparam("subscription", type_=c.subscription.type),
                message_id=sa.bindparam("message_id", type_=c.message_id.type),
                processed_at=sa.bindparam("processed_at", type_=c.processed_at.type),
            )
            .on_conflict_do_nothing(index_elements=["subscription", "message_id"])
        )
        # SQLite: the row count says whether it was stored (RETURNING costs an ephemeral table)
        self.processed_insert_sql = self.engine.compile(
            insert.returning(c.subscription) if self.engine.is_postgres else insert
        )
        self._processed_many: dict[int, str] = {}
        self._event_store: SqlEventStore | None = None
        self.one_statement = OneStatement(self)
        #: PostgreSQL: ``write_alone(conn, write, explain)``, a transaction's only write sent
        #: as a prepared statement (pg_commit.py); None elsewhere
        self.write_alone: Any = None
        self._reads = SqlReads(self)
        if self.engine.dialect_name == "sqlite":
            # ``commit_row(schema, record, expected_version, store, messages)``: a unit of
            # work of one row committed at once (handling.single_commit; sqlite_commit.py)
            self.commit_row = functools.partial(commit_row, self)
        elif self.engine.is_postgres:
            # the same for a row without messages (a projector's): pg_commit.py (which
            # imports psycopg: only here)
            from archipel.adapters.sql.pg_commit import commit_row as pg_commit_row
            from archipel.adapters.sql.pg_commit import write_alone

            self.commit_row = functools.partial(pg_commit_row, self)
            self.write_alone = write_alone

    def processed_insert_many_sql(self, rows: int) -> str:
        """A multi-row insert of processed-message records (``s{i}``, ``m{i}``, ``at``),
        skipping those already there and returning the ones it stored."""
        sql = self._processed_many.get(rows)
        if sql is None:
            c = self.processed.c
            at = sa.bindparam("at", type_=c.processed_at.type)
            values = [
                {
                    "subscription": sa.bindparam(f"s{i}", type_=c.subscription.type),
                    "message_id": sa.bindparam(f"m{i}", type_=c.message_id.type),
                    "processed_at": at,
                }
                for i in range(rows)
            ]
            dialect_insert = postgresql.insert if self.engine.is_postgres else sqlite.insert
            sql = self.engine.compile(
                dialect_insert(self.processed)
                .values(values)
                .on_conflict_do_nothing(index_elements=["subscription", "message_id"])
                .returning(c.subscription, c.message_id)
            )
            self._processed_many[rows] = sql
        return sql

    def __repr__(self) -> str:
        return f"SqlDatabase({self.name!r}, {self.engine.safe_url!r})"

    # -- collaborators ----------------------------------------------------------------
    def begin(self) -> SqlTransaction:
        """A new transaction; it touches the database only when it reads or commits."""
        return SqlTransaction(self)

    def reads(self) -> SqlReads:
        """Reads outside any transaction (shared): each one statement, one round trip."""
        return self._reads

    def direct_relay(self, broker: Any) -> DirectRelay | None:
        """A :class:`~archipel.adapters.sql.outbox_direct.DirectRelay` moving this database's
        outbox rows into ``broker`` in one transaction when the broker keeps its streams here
        (a database broker on this very engine, PostgreSQL); None otherwise (claim, publish,
        mark)."""
        return DirectRelay.between(self.outbox(), broker)

    def outbox(self) -> SqlOutbox:
        return self._outbox

    def event_store(self, settings: Mapping[str, Any] | None = None) -> SqlEventStore:
        """The event store living in this database (created on first call, then shared)."""
        with self._tables_lock:
            if self._event_store is None:
                self._event_store = SqlEventStore(self.engine, settings or {}, owns_engine=False)
            return self._event_store

    def record_table(self, schema: ModelSchema) -> RecordTable:
        """Statements and conversions for ``schema`` (built once, then cached)."""
        table = self._tables.get(schema.table)
        if table is None or table.schema is not schema:
            with self._tables_lock:
                table = self._tables.get(schema.table)
                if table is None or table.schema is not schema:
                    table = RecordTable(schema, self.engine, sa.MetaData())
                    if schema.indexes:
                        declare_indexes(table, self.engine.is_postgres)
                    self._tables[schema.table] = table
        return table

    def prune_processed(self, before: float, batch_size: int, keep: Sequence[str] = ()) -> Iterator[int]:
        """See :func:`archipel.adapters.sql.processed.prune_processed`."""
        return prune_processed(self, before, batch_size, keep)

    @staticmethod
    def clock() -> float:
        return time.time()

    def relay_shards_freed(self) -> None:
        """Relay shards of this database's outbox were given back (their leases released, or
        a worker left the group, which changes the shares): ring this process's relays and,
        on PostgreSQL, notify the other processes' (``NOTIFY`` after the release's commit),
        which look at the shards at once instead of at their next look (up to a second)."""
        announce(self.engine, OUTBOX, [FREED])

    def idle_wait(self, poll_seconds: float) -> float:
        """How long the relay may sleep when idle: commits wake it sooner (see ``wakeup``).

        Long on PostgreSQL, whose other processes' commits arrive by ``NOTIFY``;
        ``poll_seconds`` on SQLite, shared by processes that cannot push.
        """
        return fallback_seconds(self.engine, poll_seconds)

    # -- schema -----------------------------------------------------------------------
    def _framework_tables(self) -> list[sa.Table]:
        return [self.event_store().table, self._outbox.table, self.processed]

    def _model_tables(self, schemas: Iterable[ModelSchema]) -> list[sa.Table]:
        return [self.record_table(schema).table for schema in schemas]

    def declare_relay_shards(self, shards: int) -> None:
        """Have :meth:`setup` create the outbox's claim index for ``shards`` relay shards
        (PostgreSQL, ``shards > 1``): each relay's claim then reads its own shards only."""
        self._outbox.add_shard_index(shards)

    def setup(self, schemas: Iterable[ModelSchema]) -> None:
        """Create every missing table, column and index, in one transaction (idempotent).

        A table that exists but lacks a column the code now declares (a field
        added to a model, a column added to one of archipel's own tables) gets
        it with ``ALTER TABLE ... ADD COLUMN``: existing rows keep their data
        and read the new column as empty. A missing column that cannot be
        added so (``NOT NULL`` without a default) is a ``ConfigurationError``
        naming the table and column, before anything changes.
        """
        records = [self.record_table(schema) for schema in schemas]
        tables = [*(record.table for record in records), *self._framework_tables()]
        existing = self.engine.run(lambda conn: self._columns(conn, [t.name for t in tables]))
        statements: list[Any] = []
        for table in tables:
            statements.append(sa.schema.CreateTable(table, if_not_exists=True))
        statements.extend(self._added_columns(tables, existing))
        for table in tables:
            statements.extend(
                sa.schema.CreateIndex(index, if_not_exists=True) for index in table.indexes
            )
        dialect = "postgresql" if self.engine.is_postgres else "sqlite"
        for record in records:  # Index.from_sql: with the table that this setup creates
            if record.table.name not in existing:
                statements.extend(sa.text(ddl) for ddl in raw_index_ddl(record.schema, dialect))
        self.engine.execute_ddl(statements)

    def _added_columns(self, tables: list[sa.Table], existing: dict[str, set[str]]) -> list[Any]:
        """``ALTER TABLE ADD COLUMN`` for the declared columns missing from the ``existing``
        tables (name -> its columns)."""
        quote = self.engine.dialect.identifier_preparer.quote
        statements: list[Any] = []
        for table in tables:
            present = existing.get(table.name)
            if present is None:  # created by this setup
                continue
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable and column.server_default is None:
                    raise ConfigurationError(
                        f"table {table.name!r} has no column {column.name!r}, which the code "
                        "declares NOT NULL without a default: it cannot be added to existing "
                        "rows. Migrate the table (add the column with a value), or drop and "
                        "set up the database again"
                    )
                sql_type = column.type.compile(dialect=self.engine.dialect)
                # (read before the setup's lock: another setup may add it first)
                guard = "IF NOT EXISTS " if self.engine.is_postgres else ""
                statements.append(
                    sa.text(  # identifiers from the code's schema, quoted; no user input
                        f"ALTER TABLE {quote(table.name)} ADD COLUMN {guard}{quote(column.name)} {sql_type}"
                    )
                )
        return statements

    def _columns(self, conn: Any, names: list[str]) -> dict[str, set[str]]:
        """Column names of each existing table among ``names``."""
        found: dict[str, set[str]] = {}
        existing = set(self._table_names(conn))
        for name in names:
            if name not in existing:
                continue
            if self.engine.is_postgres:
                rows = conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = %s",
                    (name,),
                ).fetchall()
            else:
                rows = conn.execute("SELECT name FROM pragma_table_info(?)", (name,)).fetchall()
            found[name] = {row[0] for row in rows}
        return found

    def drop(self, schemas: Iterable[ModelSchema]) -> None:
        """Drop the schemas' tables and the framework's tables (those that exist)."""
        tables = [*self._model_tables(schemas), *self._framework_tables()]
        self.engine.execute_ddl([sa.schema.DropTable(table, if_exists=True) for table in tables])

    def clear(self, schemas: Iterable[ModelSchema]) -> None:
        """Delete every row of the schemas' tables only (a projection rebuild starts so).

        On PostgreSQL a ``TRUNCATE`` (no dead rows left behind for the rebuild's
        inserts to wade through), elsewhere a ``DELETE``.
        """
        tables = self._model_tables(schemas)
        if not tables:
            return
        if self.engine.is_postgres:
            quote = self.engine.dialect.identifier_preparer.quote
            names = ", ".join(quote(t.name) for t in tables)
            statements: list[Any] = [sa.text(f"TRUNCATE {names}")]  # noqa: S608 - quoted identifiers
        else:
            statements = [sa.delete(t) for t in tables]
        self.engine.execute_ddl(statements)

    def truncate(self, schemas: Iterable[ModelSchema]) -> None:
        """Delete every row of the schemas' tables, the outbox and the processed records.

        Events are the event store's (``domain.truncate_database()`` truncates
        it too). Missing tables are skipped.
        """
        wanted = [*self._model_tables(schemas), self._outbox.table, self.processed]
        existing = set(self.engine.run(self._table_names))
        tables = [t for t in wanted if t.name in existing]
        if not tables:
            return
        if self.engine.is_postgres:
            quote = self.engine.dialect.identifier_preparer.quote
            names = ", ".join(quote(t.name) for t in tables)
            statements: list[Any] = [sa.text(f"TRUNCATE {names} RESTART IDENTITY")]  # noqa: S608 - quoted identifiers
        else:
            statements = [sa.delete(t) for t in tables]
            if "sqlite_sequence" in existing:
                sequence = sa.table("sqlite_sequence", sa.column("name"))
                statements.extend(
                    sa.delete(sequence).where(sequence.c.name == str(t.name)) for t in tables
                )
        self.engine.execute_ddl(statements)

    def _table_names(self, conn: Any) -> list[str]:
        if self.engine.is_postgres:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        return [row[0] for row in conn.execute(sql).fetchall()]

    def table_names(self) -> list[str]:
        """Tables that exist in this database now (connects: raises ``DatabaseUnavailable`` when down).

        Read-only commands use it to tell "nothing yet" from an error without
        creating anything; the server uses it to wait for the database.
        """
        return self.engine.run(self._table_names)

    def count(self, schema: ModelSchema) -> int:
        """Rows stored for ``schema``."""
        table = self.record_table(schema).table
        sql = self.engine.compile(sa.select(sa.func.count()).select_from(table))
        row = self.engine.run(lambda conn: conn.execute(sql).fetchone())
        return int(row[0])

    def close(self) -> None:
        self.engine.dispose()


def create_database(
    name: str = "default", settings: Mapping[str, Any] | None = None
) -> SqlDatabase:
    """The registry's factory for ``[databases.<name>]`` with a SQL provider."""
    return SqlDatabase(name, settings)
