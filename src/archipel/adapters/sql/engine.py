"""One connection pool per database URI, and the dialect's facts.

:class:`SqlEngine` wraps a SQLAlchemy engine. SQLAlchemy provides the pool,
URL handling, DDL and statement compilation; statements compiled once are
then run directly on the pooled DB-API connection (psycopg 3 or sqlite3),
which costs a fraction of a Core ``execute`` on the hot path.

Every pooled connection is in driver-level autocommit mode and transactions
are explicit (``BEGIN`` ... ``COMMIT``): reads outside a write run as single
statements with no transaction round trips, and on SQLite every write
transaction starts with ``BEGIN IMMEDIATE`` (a deferred transaction that
upgrades to a writer can fail in WAL mode without waiting for the lock).

Driver exceptions never leave this package: :meth:`SqlEngine.translate`
(:mod:`archipel.adapters.sql.translate`) turns them into
:mod:`archipel.errors`. The helpers once defined here live in their own
modules and are re-exported: ``dumps``/``loads`` (:mod:`.codec`),
``normalize_url`` (:mod:`.urls`), ``cursor_of``/``execute_relaxed``
(:mod:`.connections`), ``register_sqlite_functions`` (:mod:`.sqlite_functions`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.pool import NullPool, StaticPool
from sqlalchemy.sql.ddl import ExecutableDDLElement

from archipel.adapters.sql.array_binds import register_binary_arrays
from archipel.adapters.sql.codec import dumps, loads
from archipel.adapters.sql.compiling import StatementCompiling
from archipel.adapters.sql.connections import (
    always_alive,
    cursor_of,
    execute_relaxed,
    idle_psycopg,
    idle_sqlite,
    looks_alive,
)
from archipel.adapters.sql.echo import EchoLease, Notify, Timed, log_statement, timing_wanted
from archipel.adapters.sql.fetching import fetch_rows
from archipel.adapters.sql.pool import ConnectionPool
from archipel.adapters.sql.sqlite_functions import register_sqlite_functions
from archipel.adapters.sql.translate import DriverErrors
from archipel.adapters.sql.urls import MEMORY_PATHS, ensure_parent_folder, normalize_url
from archipel.errors import ArchipelError, ConfigurationError

__all__ = [
    "SqlEngine",
    "normalize_url",
    "dumps",
    "loads",
    "cursor_of",
    "execute_relaxed",
    "register_sqlite_functions",
    "WAL_AUTOCHECKPOINT",
]

T = TypeVar("T")

#: SQLite ``PRAGMA wal_autocheckpoint`` (pages) unless configured
WAL_AUTOCHECKPOINT = 10_000
#: the advisory lock (per database) that schema changes take on PostgreSQL ("archipl" in ASCII)
_DDL_LOCK = 0x6172636869706C


class SqlEngine(DriverErrors, StatementCompiling):
    """A pool of connections to one SQLite file or PostgreSQL database.

    ``settings`` is a ``[databases.<name>]`` (or ``[event_store]``) table:
    ``database_uri`` (required), ``pool_size``, ``max_overflow``,
    ``pool_timeout``, ``pool_recycle``, ``echo``, ``connect_timeout``
    (PostgreSQL, seconds), ``busy_timeout`` (SQLite, seconds),
    ``synchronous`` (SQLite ``PRAGMA synchronous``, default ``NORMAL``) and
    ``wal_autocheckpoint`` (SQLite, pages, default :data:`WAL_AUTOCHECKPOINT`).

    SQLite files run in WAL mode with ``synchronous = NORMAL`` by default: a
    committed transaction survives the crash or kill of any process (it is in
    the WAL, in the OS's hands), and only an OS crash or power cut can lose the
    last commits (never corrupt the file) — the promise archipel makes, at a
    fraction of the cost of an fsync per commit (Rails makes the same choice).
    ``synchronous = "FULL"`` fsyncs every commit, for power-cut durability.

    A command writes ~11 WAL pages (the aggregate's row, the command's and
    the event's rows in the events table and its indexes), and the commit
    that takes the WAL past ``wal_autocheckpoint`` pages copies them back into
    the database file with two fsyncs. SQLite's default of 1000 pages does
    that every ~90 commands; archipel's 10000 (a WAL of up to ~40 MB) every
    ~900, which costs a command ~15-30 % less time (``bench/storage.py``).
    ``0`` turns automatic checkpoints off (run ``PRAGMA wal_checkpoint``
    yourself, or the WAL grows without bound).
    """

    def __init__(self, settings: Mapping[str, Any], *, label: str = "default") -> None:
        uri = settings.get("database_uri")
        provider = str(settings.get("provider") or "sql")
        if not uri:
            example = (
                "postgresql://user:password@localhost:5432/app"
                if provider == "postgresql"
                else "sqlite:///app.db"
            )
            raise ConfigurationError(
                f"the {label} database (provider {provider!r}) needs a database_uri, "
                f'e.g. database_uri = "{example}"'
            )
        self.label = label
        self.url = normalize_url(str(uri), provider)
        self.dialect_name: str = self.url.get_backend_name()
        self.is_postgres = self.dialect_name == "postgresql"
        self.is_memory = not self.is_postgres and (self.url.database or "") in MEMORY_PATHS
        #: normalized URL with the password: engines are shared when these are equal
        self.key = self.url.render_as_string(hide_password=False)
        #: the URL safe to print
        self.safe_url = self.url.render_as_string(hide_password=True)
        self._password = self.url.password
        self._echo_setting = bool(settings.get("echo", False))
        #: lend wrapped connections (``echo`` on, or an observer attached: :meth:`observe`)
        self.echo = self._echo_setting
        self._observers: list[Notify] = []
        #: the slow-query log of the domain whose ``[logging]`` asks for one (set by its
        #: ``init()``): statements timed while its logger is enabled (echo.py); None: untimed
        self.query_log: Timed | None = None
        self._lock: threading.RLock | None = threading.RLock() if self.is_memory else None
        if not self.is_postgres and not self.is_memory:
            ensure_parent_folder(self.url.database or "")
        self.engine = sa.create_engine(self.url, **self._engine_options(settings))
        self.dialect = self.engine.dialect
        sa.event.listen(self.engine, "connect", self._on_connect)
        self._pool = self._make_pool(settings)
        self.begin_sql = "BEGIN" if self.is_postgres else "BEGIN IMMEDIATE"
        self._positional_dialect: Any = None  # the "?" / "%s" dialect (compile_positional)

    @staticmethod
    def same_database(uri: str, provider: str, engine: SqlEngine) -> bool:
        """True when ``uri`` names the database ``engine`` is connected to."""
        try:
            key = normalize_url(uri, provider).render_as_string(hide_password=False)
        except ConfigurationError:
            return False
        return key == engine.key

    # -- construction -------------------------------------------------------
    def _engine_options(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        # statements bypass SQLAlchemy's Connection: ``echo`` is handled in echo.py
        options: dict[str, Any] = {}
        if self.is_postgres:
            options["connect_args"] = {
                "connect_timeout": int(settings.get("connect_timeout", 10)),
                "application_name": str(settings.get("application_name", "archipel")),
                # timestamps come back in UTC whatever the server's TimeZone
                "options": "-c TimeZone=UTC",
            }
        else:
            self._sqlite_synchronous = str(settings.get("synchronous", "NORMAL")).upper()
            if self._sqlite_synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
                raise ConfigurationError(
                    f"synchronous = {self._sqlite_synchronous!r} is not a SQLite mode: "
                    "use OFF, NORMAL, FULL or EXTRA"
                )
            checkpoint = settings.get("wal_autocheckpoint", WAL_AUTOCHECKPOINT)
            if isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 0:
                raise ConfigurationError(
                    f"wal_autocheckpoint = {checkpoint!r} is not a page count: use an integer "
                    f">= 0 (0 turns automatic checkpoints off; default {WAL_AUTOCHECKPOINT})"
                )
            self._sqlite_checkpoint = checkpoint
            options["connect_args"] = {
                # one connection may serve several threads (never at once)
                "check_same_thread": False,
                # driver autocommit: archipel issues BEGIN IMMEDIATE / COMMIT itself
                "isolation_level": None,
                "timeout": float(settings.get("busy_timeout", 30)),
            }
            options["paramstyle"] = "named"
        if self.is_memory:
            # one in-memory database lives as long as its one connection
            options["poolclass"] = StaticPool
            options["pool_reset_on_return"] = None
        else:
            # SQLAlchemy opens connections; archipel's own pool lends them (pool.py)
            options["poolclass"] = NullPool
        return options

    def _make_pool(self, settings: Mapping[str, Any]) -> ConnectionPool | None:
        if self.is_memory:
            return None
        recycle = settings.get("pool_recycle")
        return ConnectionPool(
            self.engine.raw_connection,
            size=int(settings.get("pool_size", 5)),
            overflow=int(settings.get("max_overflow", 10)),
            timeout=float(settings.get("pool_timeout", 30)),
            recycle=None if recycle is None or int(recycle) < 0 else float(recycle),
            alive=looks_alive if self.is_postgres else always_alive,
            reusable=idle_psycopg if self.is_postgres else idle_sqlite,
            label=self.label,
        )

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        if self.is_postgres:
            from psycopg.types.json import set_json_loads

            dbapi_connection.autocommit = True
            set_json_loads(loads, dbapi_connection)
            register_binary_arrays(dbapi_connection)  # (an engine batch's ids and float columns)
            return
        cursor = dbapi_connection.cursor()
        try:
            if not self.is_memory:
                # WAL: readers never block the writer, and a commit appends to one file
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={self._sqlite_synchronous}")  # noqa: S608 - checked enum
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(self._sqlite_checkpoint)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # LIKE must be case-sensitive like Python's ``in``; icontains lowers both sides
            cursor.execute("PRAGMA case_sensitive_like=ON")
        finally:
            cursor.close()
        register_sqlite_functions(dbapi_connection)

    # -- connections ----------------------------------------------------------
    def checkout(self) -> Any:
        """A pooled connection (``PoolProxiedConnection``); give it back with :meth:`checkin`."""
        pool = self._pool
        timed = self.query_log
        if timed is not None and not timing_wanted():  # the slow-query log's logger is off
            timed = None
        if pool is not None and not self.echo and timed is None:  # the hot path: one call less
            try:
                return pool.get()
            except ArchipelError:
                raise
            except Exception as exc:
                raise self.translate(exc) from exc
        fairy = self._checkout()
        if self.echo or timed:
            return EchoLease(fairy, self._notify if self.echo else None, timed)
        return fairy

    def _notify(self, sql: str, params: Any) -> None:
        if self._echo_setting:
            log_statement(sql, params)
        for observer in tuple(self._observers):
            observer(sql, params)

    @contextmanager
    def observe(self, observer: Notify) -> Iterator[None]:
        """Call ``observer(sql, params)`` with each statement sent during the block.

        Every statement on a connection checked out while the block runs (one a
        unit of work opened before the block keeps is not seen). Blocks nest; while
        none is open nothing is wrapped. For tests and diagnostics: the
        connections are wrapped while any observer is attached.
        """
        self._observers.append(observer)
        self.echo = True
        try:
            yield
        finally:
            self._observers.remove(observer)
            self.echo = self._echo_setting or bool(self._observers)

    def _checkout(self) -> Any:
        pool = self._pool
        try:
            if pool is not None:
                return pool.get()
            assert self._lock is not None  # noqa: S101 - in-memory SQLite
            self._lock.acquire()
            try:
                return self.engine.raw_connection()
            except BaseException:
                self._lock.release()
                raise
        except ArchipelError:
            raise
        except Exception as exc:
            raise self.translate(exc) from exc

    def checkin(self, connection: Any) -> None:
        if connection.__class__ is EchoLease:
            connection = connection.fairy
        if self._pool is not None:
            self._pool.put(connection)
            return
        try:
            connection.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def discard(self, connection: Any) -> None:
        """Drop a broken connection, and the idle ones (the server probably went away)."""
        if isinstance(connection, EchoLease):
            connection = connection.fairy
        if self._pool is None:
            self.checkin(connection)
            return
        self._pool.discard(connection)
        self._pool.clear()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """Check a connection out for the block (no transaction is opened)."""
        fairy = self.checkout()
        try:
            yield fairy.driver_connection
        finally:
            self.checkin(fairy)

    def run(self, action: Callable[[Any], T], *, retry: bool = True) -> T:
        """Run ``action(driver_connection)`` on a pooled connection, outside any transaction.

        A connection found dead (the server restarted since it was pooled) is
        replaced and the action retried once when ``retry``: use it for reads
        and for writes that are one atomic statement whose failure on a dead
        connection cannot have reached the server's commit.
        """
        for attempt in (1, 2):
            fairy = self.checkout()
            try:
                result = action(fairy.driver_connection)
            except Exception as exc:
                if self._failed(fairy, exc) and retry and attempt == 1:
                    continue
                if isinstance(exc, ArchipelError):
                    raise
                raise self.translate(exc) from exc
            self.checkin(fairy)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(self, fairy: Any, exc: Exception) -> bool:
        """Give back the connection an action failed on; True when it died (discarded)."""
        if self.is_disconnect(exc, fairy.driver_connection):
            self.discard(fairy)
            return True
        self.checkin(fairy)
        return False

    def fetch(self, sql: Any, params: Any, many: bool = False) -> Any:
        """Run one read statement on a pooled connection, outside any transaction.

        ``sql``: its text, or on PostgreSQL a
        :class:`~archipel.adapters.sql.prepared.PreparedStatement` (run by name
        with one libpq call: a read by identity).

        Returns its rows (``many``) or its first row (None when there is none).
        The statement runs alone in autocommit: one round trip, and it sees
        only committed transactions, each whole. A pooled connection found dead
        (the server restarted) is replaced and the read run again, as with
        :meth:`run`; this is :meth:`run` without a closure per call (the path
        of every read by id outside a unit of work), and without the liveness
        check at checkout, redundant when the read runs again anyway.
        """
        pool = self._pool
        if pool is None or self.echo or (self.query_log is not None and timing_wanted()):
            return self.run(lambda conn: fetch_rows(conn, sql, params, many))
        if not self.is_postgres:
            lease = self.checkout()
            if lease.__class__ is EchoLease:  # the slow-query log turned on since the check above
                lease = lease.fairy
            try:
                # sqlite3: Connection.execute makes the cursor in C; no disconnects to retry
                cursor = lease.driver_connection.execute(sql, params)
                found = cursor.fetchall() if many else cursor.fetchone()
            except Exception as exc:
                pool.put(lease)
                raise self.translate(exc) from exc
            pool.put(lease)
            return found
        # no liveness check at checkout: a dead connection fails the read, which
        # runs again on a new one (below)
        try:
            lease = pool.get(False)
        except ArchipelError:
            raise
        except Exception as exc:
            raise self.translate(exc) from exc
        try:
            if sql.__class__ is str:
                cursor = lease.cursor
                if cursor is None:
                    cursor = lease.cursor = cursor_of(lease.driver_connection)
                cursor.execute(sql, params)
                found = cursor.fetchall() if many else cursor.fetchone()
            else:  # a prepared statement (a read by identity): one libpq call, no cursor
                found = fetch_rows(lease.driver_connection, sql, params, many)
        except Exception as exc:
            if self._failed(lease, exc):  # the connection had died: once more on a new one
                return self.run(lambda conn: fetch_rows(conn, sql, params, many), retry=False)
            raise self.translate(exc) from exc
        pool.put(lease)
        return found

    def execute_ddl(self, statements: list[Any]) -> None:
        """Run DDL constructs in one transaction (PostgreSQL DDL is transactional), one such
        transaction at a time per database (concurrent setups by several processes succeed)."""
        texts = [
            str(s.compile(dialect=self.dialect))
            if isinstance(s, ExecutableDDLElement)
            else self.compile(s)
            for s in statements
        ]

        def apply(conn: Any) -> None:
            cursor = conn.cursor()
            try:
                cursor.execute(self.begin_sql)
                try:
                    if self.is_postgres:
                        # one schema change at a time per database: ``CREATE ... IF NOT
                        # EXISTS`` of one table by two sessions at once fails in PostgreSQL's
                        # catalog (workers starting together on a new database); the second
                        # waits here and then finds the tables there. (SQLite's ``BEGIN
                        # IMMEDIATE`` already serialises.)
                        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                    for text in texts:
                        cursor.execute(text)
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
            finally:
                cursor.close()

        self.run(apply)

    def keep_idle(self, count: int) -> None:
        """Keep up to ``count`` pooled connections idle between uses (bounded by
        ``pool_size + max_overflow``); see :meth:`ConnectionPool.keep_idle`."""
        if self._pool is not None:
            self._pool.keep_idle(count)

    def open_idle(self, count: int) -> int:
        """Open pooled connections now, up to ``count`` idle ones; see :meth:`ConnectionPool.open_idle`."""
        return self._pool.open_idle(count) if self._pool is not None else 0

    def dispose(self) -> None:
        from archipel.adapters.sql.wakeup import forget

        forget(self)  # the LISTEN/NOTIFY threads of this engine, if any
        if self._pool is not None:
            self._pool.clear()
        self.engine.dispose()
