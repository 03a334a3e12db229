"""Driver errors as :mod:`archipel.errors`: a message saying what to do, the password masked.

Driver exceptions never leave the SQL adapters: :class:`DriverErrors` (a
base of :class:`~archipel.adapters.sql.engine.SqlEngine`) tells a dead
connection from a SQL error and turns either into the archipel error a
caller can act on.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from archipel.errors import (
    ArchipelError,
    DatabaseBusy,
    DatabaseError,
    DatabaseUnavailable,
    ExpectedVersionError,
    SchemaMissingError,
)
from archipel.utils.redaction import redact

__all__ = ["DriverErrors"]

# SQLSTATEs (PostgreSQL) meaning "the same rows were changed concurrently"
_CONFLICT_STATES = {"40001", "40P01"}
_MISSING_COLUMN = (
    "the model changed after its tables were created; migrate the table "
    "(setup creates missing tables only)"
)


class DriverErrors:
    """Error translation for one database (mixed into the engine, which sets the attributes)."""

    is_postgres: bool
    url: sa.URL
    label: str
    _password: str | None

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
            found = self._postgres_error(original, reason, where, connecting)
        else:
            found = self._sqlite_error(str(original), reason, where)
        return found or DatabaseError(f"{where}: {reason}")

    def _postgres_error(
        self, original: BaseException, reason: str, where: str, connecting: bool
    ) -> ArchipelError | None:
        import psycopg

        state = getattr(original, "sqlstate", None)
        if state == "42P01":
            return SchemaMissingError(
                f"a table is missing in {where} ({reason}): run `archipel database setup`"
            )
        if state == "42703":
            return SchemaMissingError(f"a column is missing in {where} ({reason}): {_MISSING_COLUMN}")
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
            return DatabaseBusy(
                f"a statement was cancelled in {where} (a lock or statement timeout?): {reason}"
            )
        return None

    @staticmethod
    def _sqlite_error(text: str, reason: str, where: str) -> ArchipelError | None:
        if "no such table" in text:
            return SchemaMissingError(
                f"a table is missing in {where} ({reason}): run `archipel database setup`"
            )
        if "no such column" in text or "has no column named" in text:
            return SchemaMissingError(f"a column is missing in {where} ({reason}): {_MISSING_COLUMN}")
        if "unable to open database file" in text:
            return DatabaseUnavailable(
                f"cannot open {where}: check that its directory exists and is writable ({reason})"
            )
        if "database is locked" in text:
            return DatabaseBusy(
                f"{where} stayed locked by another writer longer than busy_timeout: "
                f"a long transaction holds it ({reason})"
            )
        return None
