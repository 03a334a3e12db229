"""One read on a DB-API connection: its text through the connection's cursor, or a prepared statement.

Kept apart from :mod:`~archipel.adapters.sql.connections` (which
:mod:`~archipel.adapters.sql.prepared` imports) so that importing it loads
neither psycopg nor the prepared path until a prepared read runs.
"""

from __future__ import annotations

from typing import Any

from archipel.adapters.sql.connections import cursor_of

__all__ = ["fetch_rows"]

#: :func:`archipel.adapters.sql.prepared.run_prepared`, once a prepared read ran
_run_prepared: Any = None


def fetch_rows(connection: Any, sql: Any, params: Any, many: bool) -> Any:
    """The rows (``many``) or the first row (None when none) of one read on ``connection``.

    ``sql``: the statement's text, or on PostgreSQL a
    :class:`~archipel.adapters.sql.prepared.PreparedStatement` (run with one
    libpq call, its parameters a tuple in its order or a dict by name).
    """
    if sql.__class__ is not str:
        global _run_prepared
        if _run_prepared is None:  # psycopg's module: imported at the first prepared read
            from archipel.adapters.sql.prepared import run_prepared

            _run_prepared = run_prepared
        rows = _run_prepared(connection, sql, params)
        return rows if many else (rows[0] if rows else None)
    cursor = cursor_of(connection)
    cursor.execute(sql, params)
    return cursor.fetchall() if many else cursor.fetchone()
