"""``echo = true`` and statement observers: see every statement archipel sends.

Statements run on the DB-API connections directly (not through SQLAlchemy's
``Connection``), so SQLAlchemy's own echo and events only see DDL. With ``echo``,
or while an observer is attached (``SqlEngine.observe``: the query assertions of
``archipel.integrations.pytest``), the engine lends connections wrapped in
:class:`EchoConnection`, which hands each statement and its parameters to a
``notify(sql, params)`` callable before running it (``echo`` logs them to the
``archipel.sql`` logger at INFO). Off by default, and then nothing is wrapped:
the hot path pays nothing for it.

Slow statements (Protean's slow-query log): the engines of a domain whose
``[logging]`` sets ``slow_query_threshold_ms`` or ``slow_query_truncate_chars``
get its :class:`QueryLog` (``SqlEngine.query_log``, set by ``Domain.init()``:
per domain, not for the process). While
``archipel.adapters.repository.sqlalchemy.slow_query`` is enabled for WARNING
(``configure_logging`` sets it so; Protean's logger name, renamed), or its
sibling ``...sqlalchemy.query`` for DEBUG (:func:`timing_wanted`), such an
engine lends its connections wrapped too and each statement is timed: one
slower than ``slow_query_threshold_ms`` (default 100) is a WARNING
``repository.sqlalchemy.slow_query`` with ``statement`` (cut to
``slow_query_truncate_chars``, default 500, then ``...``), ``duration_ms``,
``parameters`` and ``threshold_ms``; the others a DEBUG ``repository.sqlalchemy.query``.
PostgreSQL's prepared statements (:mod:`~archipel.adapters.sql.prepared`) stay
prepared on a connection wrapped only for timing: they are timed around their
``PQexecPrepared`` (:meth:`EchoConnection.timed_call`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "EchoConnection", "EchoLease", "Notify", "QueryLog", "Timed", "log_statement", "timing_wanted",
]

log = logging.getLogger("archipel.sql")
slow_query_logger = logging.getLogger("archipel.adapters.repository.sqlalchemy.slow_query")
query_logger = logging.getLogger("archipel.adapters.repository.sqlalchemy.query")
#: logging's isEnabledFor caches (cleared at every level change): a lookup, no call
_slow_levels: dict[int, bool] = slow_query_logger._cache  # type: ignore[attr-defined]
_query_levels: dict[int, bool] = query_logger._cache  # type: ignore[attr-defined]

#: called with each statement (its SQL text) and its parameters before it runs
Notify = Callable[[str, Any], None]
#: called with each statement, its parameters and how long it ran (ms)
Timed = Callable[[str, Any, float], None]


def timing_wanted() -> bool:
    """True while the slow-query (WARNING) or query (DEBUG) logger is enabled (an engine
    with a :class:`QueryLog` then times its statements)."""
    wanted = _slow_levels.get(logging.WARNING)
    if wanted is None:
        wanted = slow_query_logger.isEnabledFor(logging.WARNING)
    if wanted:
        return True
    debug = _query_levels.get(logging.DEBUG)
    return debug if debug is not None else query_logger.isEnabledFor(logging.DEBUG)


class QueryLog:
    """The slow-query log of one domain's engines (a :data:`Timed`): its ``[logging]``
    ``slow_query_threshold_ms`` (default 100) and ``slow_query_truncate_chars`` (500)."""

    __slots__ = ("threshold", "limit")

    def __init__(self, section: Mapping[str, Any]) -> None:
        self.threshold = float(section.get("slow_query_threshold_ms", 100))
        self.limit = int(section.get("slow_query_truncate_chars", 500))

    def __call__(self, sql: str, params: Any, duration_ms: float) -> None:
        """A slow statement's WARNING, else (when enabled) a DEBUG line; never raises."""
        try:
            threshold = self.threshold
            slow = duration_ms > threshold
            if not slow and not query_logger.isEnabledFor(logging.DEBUG):
                return
            limit = self.limit
            statement = sql if limit <= 0 or len(sql) <= limit else sql[:limit] + "..."
            extra = {"statement": statement, "duration_ms": duration_ms, "parameters": params, "threshold_ms": threshold}
            if slow:
                slow_query_logger.warning("repository.sqlalchemy.slow_query", extra=extra)
            else:
                query_logger.debug("repository.sqlalchemy.query", extra=extra)
        except Exception:  # noqa: BLE001 - logging a statement never fails it
            log.debug("slow_query_log_failed", exc_info=True)


def _run(timed: Timed | None, sql: Any, params: Any, call: Callable[[], Any]) -> Any:
    if timed is None:
        return call()
    started = time.perf_counter()
    try:
        return call()
    finally:
        timed(str(sql), params, round((time.perf_counter() - started) * 1000, 2))


def log_statement(sql: str, params: Any) -> None:
    """``echo``: the statement on one line and its parameters, at INFO on ``archipel.sql``."""
    if isinstance(params, list) and params and isinstance(params[0], (list, tuple, dict)):
        params = f"<{len(params)} rows> {params[:1]!r}..."  # executemany
    log.info("%s  %r", " ".join(sql.split()), params)


class _EchoCursor:
    def __init__(self, cursor: Any, notify: Notify | None, timed: Timed | None = None) -> None:
        self._cursor = cursor
        self._notify = notify
        self._timed = timed

    def execute(self, sql: Any, params: Any = None) -> Any:
        if self._notify is not None:
            self._notify(str(sql), params)
        cursor = self._cursor
        return _run(
            self._timed, sql, params, lambda: cursor.execute(sql, params) if params is not None else cursor.execute(sql)
        )

    def executemany(self, sql: Any, params: Any) -> Any:
        params = list(params)
        if self._notify is not None:
            self._notify(str(sql), params)
        return _run(self._timed, sql, params, lambda: self._cursor.executemany(sql, params))

    def __enter__(self) -> _EchoCursor:
        self._cursor.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._cursor.__exit__(*exc)

    def __iter__(self) -> Any:
        return iter(self._cursor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class EchoConnection:
    """A DB-API connection that shows ``notify`` what it executes and times it with ``timed``
    (attributes pass through)."""

    #: not the wrapped connection's kept cursor (``connections.cursor_of``), which would
    #: run statements past the wrapper: this wrapper keeps its own
    _archipel_cursor: Any = None

    def __init__(self, connection: Any, notify: Notify | None, timed: Timed | None = None) -> None:
        self._connection = connection
        self._notify = notify
        self._timed = timed

    @property
    def wrapped(self) -> Any:
        """The driver connection this one wraps."""
        return self._connection

    @property
    def only_timed(self) -> bool:
        """Whether statements are only timed (no ``echo``, no observer to show them to)."""
        return self._notify is None and self._timed is not None

    def timed_call(self, sql: str, params: Any, call: Callable[[], Any]) -> Any:
        """``call()``'s result, timed as a statement ``sql`` with ``params`` (shown first):
        a statement the caller runs on :attr:`wrapped` itself (a prepared statement)."""
        if self._notify is not None:
            self._notify(sql, params)
        return _run(self._timed, sql, params, call)

    def execute(self, sql: Any, params: Any = None) -> Any:
        if self._notify is not None:
            self._notify(str(sql), params)
        conn = self._connection
        return _run(self._timed, sql, params, lambda: conn.execute(sql) if params is None else conn.execute(sql, params))

    def executemany(self, sql: Any, params: Any) -> Any:
        params = list(params)
        if self._notify is not None:
            self._notify(str(sql), params)
        return _run(self._timed, sql, params, lambda: self._connection.executemany(sql, params))

    def cursor(self, *args: Any, **kwargs: Any) -> _EchoCursor:
        return _EchoCursor(self._connection.cursor(*args, **kwargs), self._notify, self._timed)

    def __enter__(self) -> EchoConnection:
        self._connection.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._connection.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class EchoLease:
    """A lent connection (SQLAlchemy's pool proxy) whose driver connection echoes."""

    def __init__(self, fairy: Any, notify: Notify | None, timed: Timed | None = None) -> None:
        self.fairy = fairy
        self.driver_connection = EchoConnection(fairy.driver_connection, notify, timed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fairy, name)
