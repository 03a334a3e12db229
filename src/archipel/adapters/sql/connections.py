"""Helpers on pooled DB-API connections (psycopg 3 and sqlite3).

A reusable cursor per connection, PostgreSQL writes whose commit need not
wait for the WAL flush, and the checks the pool runs when it lends a
connection (alive?) and takes it back (idle, no transaction open?).
"""

from __future__ import annotations

import select
from typing import Any

__all__ = [
    "cursor_of",
    "execute_relaxed",
    "looks_alive",
    "always_alive",
    "idle_psycopg",
    "idle_sqlite",
]


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


def execute_relaxed(connection: Any, sql: str, params: Any, settings: tuple[str, ...] = ()) -> Any:
    """Run one PostgreSQL write statement whose commit need not wait for the WAL flush.

    For writes that a server crash may lose harmlessly because they are done
    again — the outbox relay's row claims, marks and releases (a lost claim or
    mark means rows relayed once more, and consumers drop the copies) — but
    not for anything a caller was promised. ``BEGIN``, ``SET LOCAL
    synchronous_commit = off``, the statement and ``COMMIT`` go in one round
    trip (psycopg's pipeline mode); the connection must be idle in autocommit.
    ``settings``: more ``SET LOCAL`` statements sent before it (in the same round trip).
    Returns the statement's cursor.
    """
    cursor = connection.cursor()
    with connection.pipeline():
        connection.execute("BEGIN")
        connection.execute("SET LOCAL synchronous_commit = off")
        for setting in settings:
            connection.execute(setting)
        cursor.execute(sql, params)
        connection.execute("COMMIT")
    # the pipeline is synced: every result is in
    return cursor


def looks_alive(connection: Any) -> bool:
    """False when an idle psycopg connection was closed by the server.

    An idle connection has nothing to read unless the server hung up (or sent
    a notice, which costs only a reconnection): a zero-timeout ``poll`` of its
    socket instead of a ping round trip at every checkout. The poll object is
    made once per connection and kept on it (~0.7 µs a check, where a
    ``select.select`` call builds three lists each time: ~3 µs).
    """
    if connection.pgconn.status != 0:  # libpq's CONNECTION_OK; closed or broken otherwise
        return False
    probe = connection.__dict__.get("_archipel_probe")
    if probe is None:
        try:
            probe = select.poll()
            probe.register(connection.pgconn.socket, select.POLLIN | select.POLLPRI)
        except Exception:  # no socket: the connection is gone
            return False
        connection._archipel_probe = probe
    try:
        return not probe.poll(0)
    except (OSError, ValueError):
        return False


def always_alive(_connection: Any) -> bool:
    """SQLite: a connection to a file never goes away."""
    return True


def idle_psycopg(connection: Any) -> bool:
    """Whether a psycopg connection can go back to the pool (no transaction open)."""
    # libpq's PQTRANS_IDLE is 0: no transaction open, nothing in flight (a closed
    # connection reports PQTRANS_UNKNOWN)
    return connection.pgconn.transaction_status == 0  # type: ignore[no-any-return]


def idle_sqlite(connection: Any) -> bool:
    """Whether a sqlite3 connection can go back to the pool (no transaction open)."""
    return not connection.in_transaction
