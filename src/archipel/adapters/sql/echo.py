"""``echo = true``: log every statement archipel sends, with its parameters.

Statements run on the DB-API connections directly (not through SQLAlchemy's
``Connection``), so SQLAlchemy's own echo only shows DDL. With ``echo`` the
engine lends connections wrapped in :class:`EchoConnection`, which logs each
statement to the ``archipel.sql`` logger at INFO before running it. Off by
default, and then nothing is wrapped: the hot path pays nothing for it.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["EchoConnection", "EchoLease"]

log = logging.getLogger("archipel.sql")


def _show(sql: Any, params: Any) -> None:
    log.info("%s  %r", " ".join(str(sql).split()), params)


class _EchoCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: Any, params: Any = None) -> Any:
        _show(sql, params)
        return (
            self._cursor.execute(sql, params) if params is not None else self._cursor.execute(sql)
        )

    def executemany(self, sql: Any, params: Any) -> Any:
        _show(sql, f"<{len(params)} rows> {params[:1]!r}...")
        return self._cursor.executemany(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class EchoConnection:
    """A DB-API connection that logs what it executes (attributes pass through)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: Any, params: Any = None) -> Any:
        _show(sql, params)
        if params is None:
            return self._connection.execute(sql)
        return self._connection.execute(sql, params)

    def cursor(self) -> _EchoCursor:
        return _EchoCursor(self._connection.cursor())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class EchoLease:
    """A lent connection (SQLAlchemy's pool proxy) whose driver connection echoes."""

    def __init__(self, fairy: Any) -> None:
        self.fairy = fairy
        self.driver_connection = EchoConnection(fairy.driver_connection)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fairy, name)
