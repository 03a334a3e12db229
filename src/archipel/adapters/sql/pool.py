"""A small LIFO pool of DB-API connections.

SQLAlchemy opens the connections (URL, connect arguments, ``connect``
events; the engine runs with ``NullPool``); this pool only lends them out.
It exists because archipel checks a connection out for every unit of work
and every read: SQLAlchemy's ``QueuePool`` spends ~25 µs per checkout and
return (events, reset-on-return), a tenth of a whole PostgreSQL commit
here, where lending an idle connection and taking it back are one ``deque``
operation each (~1 µs for both, no lock). The reset is unnecessary
since connections come back outside any transaction (checked, not assumed:
one that does not is closed instead of pooled).

Up to ``size`` idle connections are kept, most recently used first (they
are the warm ones); ``size + overflow`` may be open (so lent) at once, and a
borrower waits up to ``timeout`` seconds for one. Connections older than
``recycle`` seconds are replaced when they are next lent.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from archipel.adapters.sql.connections import always_alive
from archipel.errors import DatabaseError

__all__ = ["ConnectionPool", "Lease"]


class Lease:
    """A pooled connection as lent: SQLAlchemy's proxy and its DB-API connection.

    The driver connection is read once, when the connection is made: through
    the proxy it is a chain of properties, paid at every checkout otherwise.
    """

    __slots__ = ("fairy", "driver_connection", "born", "cursor")

    def __init__(self, fairy: Any) -> None:
        self.fairy = fairy
        self.driver_connection = fairy.driver_connection
        self.born = time.monotonic()
        #: the connection's reusable psycopg cursor, once a read asked for it (``cursor_of``)
        self.cursor: Any = None

    def invalidate(self) -> None:
        self.fairy.invalidate()

    def close(self) -> None:
        self.fairy.close()


class ConnectionPool:
    """Lends connections made by ``connect()``; see the module docstring.

    ``reusable(connection)`` says whether a returned connection is clean
    (outside any transaction); ``alive(connection)`` whether an idle one is
    still usable before it is lent.

    At most ``size + overflow`` connections are open at once (lent or idle):
    each open connection holds a permit. Lending an idle connection and
    taking one back are single ``deque`` operations (atomic, thread-safe),
    with no lock: the lock is only taken to open a connection when none is
    idle, and by borrowers that wait (and whoever wakes them).
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        size: int,
        overflow: int,
        timeout: float,
        recycle: float | None,
        alive: Callable[[Any], bool],
        reusable: Callable[[Any], bool],
        label: str,
    ) -> None:
        self._connect = connect
        self._size = max(size, 0)
        self._timeout = timeout
        self._recycle = recycle
        self._alive = alive
        #: whether idle connections can die (PostgreSQL's; SQLite's never do)
        self._probe = alive is not always_alive
        self._reusable = reusable
        self._label = label
        self._idle: deque[Lease] = deque()
        self._limit = max(size + overflow, 1)
        #: one token per connection that may still be opened (the limit minus the open ones)
        self._permits: deque[None] = deque([None] * self._limit)
        #: borrowers waiting (changed under the lock; read without it by those who give back)
        self._waiting = 0
        self._available = threading.Condition(threading.Lock())

    def get(self, check: bool = True) -> Lease:
        """A connection (a :class:`Lease`); return it with :meth:`put`.

        ``check=False`` skips the liveness check of an idle connection: for
        callers that run the action again on a new connection when this one
        turns out dead (reads, :meth:`SqlEngine.fetch`), for which the check
        is redundant.
        """
        deadline: float | None = None
        while True:
            try:
                fairy = self._idle.pop()
            except IndexError:
                try:
                    self._permits.pop()
                except IndexError:
                    if deadline is None:  # one deadline however often others are served first
                        deadline = time.monotonic() + self._timeout
                    waited = self._wait(deadline)
                    if waited is None:
                        return self._open()
                    fairy = waited
                else:
                    return self._open()
            if (self._recycle is not None and self._stale(fairy)) or (
                check and self._probe and not self._alive(fairy.driver_connection)
            ):
                self._close(fairy)
                continue
            return fairy

    def _open(self) -> Lease:
        """A new connection, for the permit the caller took (freed again if connecting fails)."""
        try:
            return Lease(self._connect())
        except BaseException:
            self._give_back(self._permits, None)
            raise

    def _wait(self, deadline: float) -> Lease | None:
        """Wait until a connection is idle (it is returned) or a permit is free (taken: None)."""
        with self._available:
            # counted before looking: whoever gives back after this sees a waiter and
            # wakes it; whatever was given back before, the looks below find
            self._waiting += 1
            try:
                while True:
                    try:
                        return self._idle.pop()
                    except IndexError:
                        pass
                    try:
                        self._permits.pop()
                        return None
                    except IndexError:
                        pass
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise DatabaseError(
                            f"all connections of the {self._label} database stayed in use for "
                            f"{self._timeout:g}s: raise pool_size / max_overflow, or look for "
                            "transactions that hold them"
                        )
                    self._available.wait(left)
            finally:
                self._waiting -= 1

    def _give_back(self, into: deque[Any], item: Any) -> None:
        into.append(item)
        if self._waiting:
            with self._available:
                self._available.notify()

    def _stale(self, fairy: Lease) -> bool:
        recycle = self._recycle
        return recycle is not None and time.monotonic() - fairy.born > recycle

    def put(self, fairy: Lease) -> None:
        """Take a connection back (kept idle if clean and there is room, else closed)."""
        idle = self._idle
        if len(idle) < self._size and self._reusable(fairy.driver_connection):
            idle.append(fairy)
            if self._waiting:
                with self._available:
                    self._available.notify()
            return
        self._close(fairy)

    def discard(self, fairy: Lease) -> None:
        """Take back a broken connection: it is closed, never lent again."""
        try:
            fairy.invalidate()
        except Exception:  # noqa: S110 - it is broken already
            pass
        self._close(fairy)

    def clear(self) -> None:
        """Close every idle connection (lent ones close when they come back, if broken)."""
        while True:
            try:
                fairy = self._idle.pop()
            except IndexError:
                return
            self._close(fairy)

    def _close(self, fairy: Any) -> None:
        """Close ``fairy`` and free its permit."""
        try:
            fairy.close()
        except Exception:  # noqa: S110 - closing a dead connection may fail; it is gone either way
            pass
        finally:
            self._give_back(self._permits, None)

    def keep_idle(self, count: int) -> None:
        """Keep up to ``count`` idle connections (never more than may be lent at once).

        For a process whose threads borrow more connections at once than
        ``pool_size`` (an engine worker: relay, consumers, partition runs):
        returned connections beyond the idle limit are closed, and opened again
        at the next peak — a connection setup, and a server process, each time.
        """
        self._size = max(self._size, min(count, self._limit))

    def open_idle(self, count: int) -> int:
        """Open connections now until ``count`` are idle (at most what :meth:`keep_idle` keeps
        and what may be open at once); return how many were opened.

        For an engine worker at start: its threads' first batches would each open their
        connection (a server process and its start-up) just when the work arrives.
        """
        opened = 0
        while len(self._idle) < min(count, self._size):
            try:
                self._permits.pop()
            except IndexError:
                break  # as many open as may be
            self.put(self._open())
            opened += 1
        return opened

    @property
    def idle(self) -> int:
        return len(self._idle)
