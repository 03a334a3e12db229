"""``echo = true`` and statement observers: see every statement archipel sends.

Statements run on the DB-API connections directly (not through SQLAlchemy's
``Connection``), so SQLAlchemy's own echo and events only see DDL. With ``echo``,
or while an observer is attached (``SqlEngine.observe``: the query assertions of
``archipel.integrations.pytest``), the engine lends connections wrapped in
:class:`EchoConnection`, which hands each statement and its parameters to a
``notify(sql, params)`` callable before running it (``echo`` logs them to the
``archipel.sql`` logger at INFO). Off by default, and then nothing is wrapped:
the hot path pays nothing for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["EchoConnection", "EchoLease", "log_statement", "Notify"]

log = logging.getLogger("archipel.sql")

#: called with each statement (its SQL text) and its parameters before it runs
Notify = Callable[[str, Any], None]


def log_statement(sql: str, params: Any) -> None:
    """``echo``: the statement on one line and its parameters, at INFO on ``archipel.sql``."""
    if isinstance(params, list) and params and isinstance(params[0], (list, tuple, dict)):
        params = f"<{len(params)} rows> {params[:1]!r}..."  # executemany
    log.info("%s  %r", " ".join(sql.split()), params)


class _EchoCursor:
    def __init__(self, cursor: Any, notify: Notify) -> None:
        self._cursor = cursor
        self._notify = notify

    def execute(self, sql: Any, params: Any = None) -> Any:
        self._notify(str(sql), params)
        return (
            self._cursor.execute(sql, params) if params is not None else self._cursor.execute(sql)
        )

    def executemany(self, sql: Any, params: Any) -> Any:
        params = list(params)
        self._notify(str(sql), params)
        return self._cursor.executemany(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class EchoConnection:
    """A DB-API connection that shows ``notify`` what it executes (attributes pass through)."""

    def __init__(self, connection: Any, notify: Notify) -> None:
        self._connection = connection
        self._notify = notify

    def execute(self, sql: Any, params: Any = None) -> Any:
        self._notify(str(sql), params)
        if params is None:
            return self._connection.execute(sql)
        return self._connection.execute(sql, params)

    def executemany(self, sql: Any, params: Any) -> Any:
        params = list(params)
        self._notify(str(sql), params)
        return self._connection.executemany(sql, params)

    def cursor(self, *args: Any, **kwargs: Any) -> _EchoCursor:
        return _EchoCursor(self._connection.cursor(*args, **kwargs), self._notify)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class EchoLease:
    """A lent connection (SQLAlchemy's pool proxy) whose driver connection echoes."""

    def __init__(self, fairy: Any, notify: Notify) -> None:
        self.fairy = fairy
        self.driver_connection = EchoConnection(fairy.driver_connection, notify)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fairy, name)
