"""One connection pool per database URI, the dialect's facts, and error translation.

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
turns them into :mod:`archipel.errors` with a message saying what to do,
and with the password masked.
"""

from __future__ import annotations

import decimal
import select
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.pool import NullPool, StaticPool
from sqlalchemy.sql import visitors
from sqlalchemy.sql.ddl import ExecutableDDLElement
from sqlalchemy.sql.elements import BindParameter

from archipel.adapters.sql.echo import EchoLease
from archipel.adapters.sql.pool import ConnectionPool
from archipel.errors import (
    ArchipelError,
    ConfigurationError,
    DatabaseBusy,
    DatabaseError,
    DatabaseUnavailable,
    ExpectedVersionError,
    SchemaMissingError,
)
from archipel.utils.lookups import json_canonical
from archipel.utils.redaction import redact

__all__ = ["SqlEngine", "normalize_url", "dumps", "loads", "cursor_of", "execute_relaxed"]

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode
#: JSON text of a primitive value (records and messages are primitive already)
loads: Callable[[str | bytes], Any] = msgspec.json.Decoder().decode


def _decimal_order(left: str, right: str) -> int:
    """The ``archipel_decimal`` collation: decimal text compared as numbers, NaN last."""
    a, b = _as_decimal(left), _as_decimal(right)
    if a is None or b is None:  # text that is no number sorts after numbers, as text
        ka: Any = (a is None, left if a is None else 0)
        kb: Any = (b is None, right if b is None else 0)
    else:
        ka, kb = (a.is_nan(), 0 if a.is_nan() else a), (b.is_nan(), 0 if b.is_nan() else b)
    return -1 if ka < kb else (1 if ka > kb else 0)


def _as_decimal(text: str) -> decimal.Decimal | None:
    try:
        return decimal.Decimal(text)
    except (decimal.InvalidOperation, ValueError):
        return None


def _lower(text: Any) -> Any:
    return text.lower() if isinstance(text, str) else text


def _json_key(text: Any) -> Any:
    if not isinstance(text, (str, bytes)):
        return text
    try:
        return dumps(json_canonical(loads(text)))
    except msgspec.DecodeError:
        return text


def register_sqlite_functions(connection: Any) -> None:
    """Register what archipel's SQLite tables and queries use on a sqlite3 connection:
    the ``archipel_decimal`` collation of decimal columns, ``archipel_lower``
    (Python's Unicode ``str.lower``, for ``iexact``/``icontains``) and
    ``archipel_json_key`` (JSON text in a form equal when the JSON values are)."""
    connection.create_collation("archipel_decimal", _decimal_order)
    connection.create_function("archipel_lower", 1, _lower, deterministic=True)
    connection.create_function("archipel_json_key", 1, _json_key, deterministic=True)


def dumps(value: Any) -> str:
    """Compact JSON text; msgspec keeps key order and encodes ~10x faster than ``json``."""
    return _encode(value).decode()


def cursor_of(connection: Any) -> Any:
    """A cursor of ``connection`` kept on it for reuse (one per connection).

    A new psycopg cursor copies the connection's adapters (several µs at every
    statement with ``connection.execute``); a connection serves one thread at a
    time and every result is fetched at once, so one cursor serves all its
    statements. SQLite's connections take no attributes and its cursors are
    cheap: they get a new one each time.
    """
    cursor = getattr(connection, "_archipel_cursor", None)
    if cursor is None:
        cursor = connection.cursor()
        if getattr(connection, "pgconn", None) is not None:  # psycopg (closed with it)
            connection._archipel_cursor = cursor
    return cursor


def execute_relaxed(connection: Any, sql: str, params: Any) -> Any:
    """Run one PostgreSQL write statement whose commit need not wait for the WAL flush.

    For writes that a server crash may lose harmlessly because they are done
    again — the outbox relay's row claims, marks and releases (a lost claim or
    mark means rows relayed once more, and consumers drop the copies) — but
    not for anything a caller was promised. ``BEGIN``, ``SET LOCAL
    synchronous_commit = off``, the statement and ``COMMIT`` go in one round
    trip (psycopg's pipeline mode); the connection must be idle in autocommit.
    Returns the statement's cursor.
    """
    cursor = connection.cursor()
    with connection.pipeline():
        connection.execute("BEGIN")
        connection.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(sql, params)
        connection.execute("COMMIT")
    # the pipeline is synced: every result is in
    return cursor


_PROVIDER_BACKENDS = {"sqlite": "sqlite", "postgresql": "postgresql", "sql": None}
_MEMORY_PATHS = ("", ":memory:")
# SQLSTATEs (PostgreSQL) meaning "the same rows were changed concurrently"
_CONFLICT_STATES = {"40001", "40P01"}


def normalize_url(uri: str, provider: str = "sql") -> sa.URL:
    """Parse ``database_uri`` into the URL the engine uses.

    ``postgresql://``, ``postgres://`` and ``postgresql+psycopg://`` all mean
    psycopg 3. A relative SQLite path is made absolute against the current
    directory now, so a later ``chdir`` cannot move the database.
    """
    text = uri.strip()
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://") :]
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(
            f"database_uri {redact({'u': uri})['u']!r} is not a valid URL: "
            'write e.g. "sqlite:///app.db" or "postgresql://user:password@host:5432/db"'
        ) from exc
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.get_driver_name() not in ("psycopg", "psycopg2"):
            raise ConfigurationError(
                f"database_uri uses the driver {url.get_driver_name()!r}: archipel talks to "
                "PostgreSQL through psycopg 3; write postgresql:// or postgresql+psycopg://"
            )
        url = url.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        path = url.database or ""
        if path not in _MEMORY_PATHS and not path.startswith("file:"):
            url = url.set(database=str(Path(path).expanduser().resolve()))
        url = url.set(drivername="sqlite")
    else:
        raise ConfigurationError(
            f"database_uri scheme {url.drivername!r} is not supported by the SQL adapters: "
            "use sqlite:///path.db or postgresql://user:password@host:port/db"
        )
    wanted = _PROVIDER_BACKENDS.get(provider)
    if wanted is not None and wanted != backend:
        raise ConfigurationError(
            f"provider {provider!r} does not match database_uri scheme {backend!r}: "
            f'use provider = "{backend}" (or "sql", which follows the URI)'
        )
    return url


def _ensure_parent_folder(path: str) -> None:
    """Create the folder of an SQLite file (``sqlite:///.archipel/app.db`` on a fresh checkout)."""
    if path.startswith("file:"):
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # opening the database reports the problem with a clear message


def _looks_alive(connection: Any) -> bool:
    """False when an idle psycopg connection was closed by the server.

    An idle connection has nothing to read unless the server hung up (or sent
    a notice, which costs only a reconnection): one ``select`` call instead of
    a ping round trip at every checkout.
    """
    if connection.closed or connection.broken:
        return False
    try:
        readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _always(_connection: Any) -> bool:
    return True


def _idle_psycopg(connection: Any) -> bool:
    # libpq's PQTRANS_IDLE is 0: no transaction open, nothing in flight
    return not connection.closed and connection.pgconn.transaction_status == 0


def _idle_sqlite(connection: Any) -> bool:
    return not connection.in_transaction


class SqlEngine:
    """A pool of connections to one SQLite file or PostgreSQL database.

    ``settings`` is a ``[databases.<name>]`` (or ``[event_store]``) table:
    ``database_uri`` (required), ``pool_size``, ``max_overflow``,
    ``pool_timeout``, ``pool_recycle``, ``echo``, ``connect_timeout``
    (PostgreSQL, seconds), ``busy_timeout`` (SQLite, seconds) and
    ``synchronous`` (SQLite ``PRAGMA synchronous``, default ``NORMAL``).

    SQLite files run in WAL mode with ``synchronous = NORMAL`` by default: a
    committed transaction survives the crash or kill of any process (it is in
    the WAL, in the OS's hands), and only an OS crash or power cut can lose the
    last commits (never corrupt the file) — the promise archipel makes, at a
    fraction of the cost of an fsync per commit (Rails makes the same choice).
    ``synchronous = "FULL"`` fsyncs every commit, for power-cut durability.
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
        self.is_memory = not self.is_postgres and (self.url.database or "") in _MEMORY_PATHS
        #: normalized URL with the password: engines are shared when these are equal
        self.key = self.url.render_as_string(hide_password=False)
        #: the URL safe to print
        self.safe_url = self.url.render_as_string(hide_password=True)
        self._password = self.url.password
        self.echo = bool(settings.get("echo", False))
        self._lock: threading.RLock | None = threading.RLock() if self.is_memory else None
        if not self.is_postgres and not self.is_memory:
            _ensure_parent_folder(self.url.database or "")
        self.engine = sa.create_engine(self.url, **self._engine_options(settings))
        self.dialect = self.engine.dialect
        sa.event.listen(self.engine, "connect", self._on_connect)
        self._pool = self._make_pool(settings)
        self.begin_sql = "BEGIN" if self.is_postgres else "BEGIN IMMEDIATE"

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
            alive=_looks_alive if self.is_postgres else _always,
            reusable=_idle_psycopg if self.is_postgres else _idle_sqlite,
            label=self.label,
        )

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        if self.is_postgres:
            from psycopg.types.json import set_json_loads

            dbapi_connection.autocommit = True
            set_json_loads(loads, dbapi_connection)
            return
        cursor = dbapi_connection.cursor()
        try:
            if not self.is_memory:
                # WAL: readers never block the writer, and a commit appends to one file
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={self._sqlite_synchronous}")  # noqa: S608 - checked enum
            cursor.execute("PRAGMA foreign_keys=ON")
            # LIKE must be case-sensitive like Python's ``in``; icontains lowers both sides
            cursor.execute("PRAGMA case_sensitive_like=ON")
        finally:
            cursor.close()
        register_sqlite_functions(dbapi_connection)

    # -- connections ----------------------------------------------------------
    def checkout(self) -> Any:
        """A pooled connection (``PoolProxiedConnection``); give it back with :meth:`checkin`."""
        fairy = self._checkout()
        return EchoLease(fairy) if self.echo else fairy

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
        if isinstance(connection, EchoLease):
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
                if self.is_disconnect(exc, fairy.driver_connection):
                    self.discard(fairy)
                    if retry and attempt == 1:
                        continue
                else:
                    self.checkin(fairy)
                if isinstance(exc, ArchipelError):
                    raise
                raise self.translate(exc) from exc
            self.checkin(fairy)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def execute_ddl(self, statements: list[Any]) -> None:
        """Run DDL constructs in one transaction (PostgreSQL DDL is transactional)."""
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
                    for text in texts:
                        cursor.execute(text)
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
            finally:
                cursor.close()

        self.run(apply)

    def compile(self, statement: Any) -> str:
        """SQL text of a Core statement for this dialect.

        Named ``bindparam("x")`` placeholders stay parameters, supplied by the
        caller at every execution; constants written in the statement by
        archipel itself (``status == "pending"``) are rendered as SQL literals
        by the dialect, since the compiled text is run without SQLAlchemy.
        """
        compiled = self.inline(statement).compile(dialect=self.dialect)
        extra = [name for name, bind in compiled.binds.items() if not bind.required]
        if extra:  # pragma: no cover - a statement archipel builds must not need these
            raise AssertionError(f"compiled SQL has parameters nobody supplies: {extra}")
        return str(compiled)

    def inline(self, statement: Any) -> Any:
        """``statement`` with its constants as SQL literals (see :meth:`compile`).

        Apply it to a statement before wrapping it in a CTE: the traversal does
        not reach into CTEs attached with ``add_cte``.
        """
        dialect = self.dialect

        def inline(element: Any) -> Any:
            if (
                isinstance(element, BindParameter)
                and not element.required
                and element.callable is None
            ):
                value = element.value
                if isinstance(value, str):
                    value = str(value)  # a str subclass (quoted_name) has no SQL type
                typed = element if not element.type._isnull else sa.literal(value)
                text = str(typed.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                return sa.literal_column(text, type_=typed.type)
            return None

        return visitors.replacement_traverse(statement, {}, inline)  # type: ignore[call-overload]

    def dispose(self) -> None:
        from archipel.adapters.sql.wakeup import forget

        forget(self)  # the LISTEN/NOTIFY threads of this engine, if any
        if self._pool is not None:
            self._pool.clear()
        self.engine.dispose()

    # -- errors -----------------------------------------------------------------
    def is_disconnect(self, exc: BaseException, connection: Any = None) -> bool:
        """True when ``exc`` means the connection is gone (not a SQL error)."""
        original = getattr(exc, "orig", None) or exc
        if not self.is_postgres:
            return False
        import psycopg

        if not isinstance(original, psycopg.OperationalError):
            return False
        if connection is not None and (getattr(connection, "broken", False) or connection.closed):
            return True
        return getattr(original, "sqlstate", None) is None or str(original.sqlstate).startswith(
            "08"
        )

    def scrub(self, text: str) -> str:
        """``text`` with the password (and any URI password) masked."""
        if self._password:
            text = text.replace(str(self._password), "***")
        return str(redact({"m": text})["m"])

    def _where(self) -> str:
        if self.is_postgres:
            host = self.url.host or "localhost"
            port = self.url.port or 5432
            return f"PostgreSQL at {host}:{port} (database {self.url.database!r})"
        return f"SQLite database {self.url.database or ':memory:'}"

    def translate(self, exc: BaseException, *, table: str | None = None) -> ArchipelError:
        """The :mod:`archipel.errors` exception for a driver or SQLAlchemy error."""
        if isinstance(exc, ArchipelError):
            return exc
        original = getattr(exc, "orig", None) or exc
        reason = self.scrub(
            str(original).strip().splitlines()[0]
            if str(original).strip()
            else type(original).__name__
        )
        where = self._where()
        connecting = isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
        if self.is_postgres:
            import psycopg

            state = getattr(original, "sqlstate", None)
            if state == "42P01":
                return SchemaMissingError(
                    f"a table is missing in {where} ({reason}): run `archipel database setup`"
                )
            if state == "42703":
                return SchemaMissingError(
                    f"a column is missing in {where} ({reason}): the model changed after its "
                    "tables were created; migrate the table (setup creates missing tables only)"
                )
            if state in _CONFLICT_STATES:
                return ExpectedVersionError(
                    f"concurrent writers conflicted in {where} ({reason}): reload and retry"
                )
            if isinstance(original, psycopg.OperationalError) and (
                connecting or state is None or str(state).startswith(("08", "28", "3D", "57P"))
            ):
                return DatabaseUnavailable(
                    f"cannot reach {where} for the {self.label} database: is the server running? "
                    f"({reason})"
                )
            if isinstance(original, psycopg.errors.QueryCanceled):
                return DatabaseBusy(f"a statement was cancelled in {where} (a lock or statement timeout?): {reason}")
        else:
            text = str(original)
            if "no such table" in text:
                return SchemaMissingError(
                    f"a table is missing in {where} ({reason}): run `archipel database setup`"
                )
            if "no such column" in text or "has no column named" in text:
                return SchemaMissingError(
                    f"a column is missing in {where} ({reason}): the model changed after its "
                    "tables were created; migrate the table (setup creates missing tables only)"
                )
            if "unable to open database file" in text:
                return DatabaseUnavailable(
                    f"cannot open {where}: check that its directory exists and is writable ({reason})"
                )
            if "database is locked" in text:
                return DatabaseBusy(
                    f"{where} stayed locked by another writer longer than busy_timeout: "
                    f"a long transaction holds it ({reason})"
                )
        return DatabaseError(f"{where}: {reason}")
