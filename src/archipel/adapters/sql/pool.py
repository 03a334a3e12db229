"""A small LIFO pool of DB-API connections.

SQLAlchemy opens the connections (URL, connect arguments, ``connect``
events; the engine runs with ``NullPool``); this pool only lends them out.
It exists because archipel checks a connection out for every unit of work
and every read: SQLAlchemy's ``QueuePool`` spends ~25 µs per checkout and
return (events, reset-on-return), a tenth of a whole PostgreSQL commit
here, where a deque and a semaphore spend ~2 µs. The reset is unnecessary
since connections come back outside any transaction (checked, not assumed:
one that does not is closed instead of pooled).

Up to ``size`` idle connections are kept, most recently used first (they
are the warm ones); ``size + overflow`` may be lent at once, and a borrower
waits up to ``timeout`` seconds for one. Connections older than
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

    __slots__ = ("fairy", "driver_connection", "born")

    def __init__(self, fairy: Any) -> None:
        self.fairy = fairy
        self.driver_connection = fairy.driver_connection
        self.born = time.monotonic()

    def invalidate(self) -> None:
        self.fairy.invalidate()

    def close(self) -> None:
        self.fairy.close()


class ConnectionPool:
    """Lends connections made by ``connect()``; see the module docstring.

    ``reusable(connection)`` says whether a returned connection is clean
    (outside any transaction); ``alive(connection)`` whether an idle one is
    still usable before it is lent.
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
        # how many are lent, guarded by a plain lock (threading.Semaphore is
        # Python code: several microseconds a call); waiters use the condition
        self._lent = 0
        self._waiting = 0
        # the lock guards the counts (a C-level context manager); the condition over the
        # same lock is only for borrowers that wait
        self._lock = threading.Lock()
        self._available = threading.Condition(self._lock)

    def _acquire(self) -> None:
        with self._lock:
            if self._lent < self._limit:
                self._lent += 1
                return
        self._wait()

    def _wait(self) -> None:
        with self._available:
            if self._lent < self._limit:
                self._lent += 1
                return
            deadline = time.monotonic() + self._timeout
            self._waiting += 1
            try:
                while self._lent >= self._limit:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._available.wait(left):
                        if self._lent < self._limit:
                            break
                        raise DatabaseError(
                            f"all connections of the {self._label} database stayed in use for "
                            f"{self._timeout:g}s: raise pool_size / max_overflow, or look for "
                            "transactions that hold them"
                        )
            finally:
                self._waiting -= 1
            self._lent += 1

    def _release(self) -> None:
        with self._lock:
            self._lent -= 1
            if self._waiting:
                self._available.notify()

    def get(self, check: bool = True) -> Lease:
        """A connection (a :class:`Lease`); return it with :meth:`put`.

        ``check=False`` skips the liveness check of an idle connection: for
        callers that run the action again on a new connection when this one
        turns out dead (reads, :meth:`SqlEngine.fetch`), for which the check
        is redundant.
        """
        self._acquire()
        try:
            while True:
                try:
                    fairy = self._idle.pop()
                except IndexError:
                    return Lease(self._connect())
                if (self._recycle is not None and self._stale(fairy)) or (
                    check and self._probe and not self._alive(fairy.driver_connection)
                ):
                    self._close(fairy)
                    continue
                return fairy
        except BaseException:
            self._release()
            raise

    def _stale(self, fairy: Lease) -> bool:
        recycle = self._recycle
        return recycle is not None and time.monotonic() - fairy.born > recycle

    def put(self, fairy: Lease) -> None:
        """Take a connection back (kept idle if clean and there is room, else closed)."""
        try:
            if len(self._idle) < self._size and self._reusable(fairy.driver_connection):
                self._idle.append(fairy)
            else:
                self._close(fairy)
        finally:
            self._release()

    def discard(self, fairy: Lease) -> None:
        """Take back a broken connection: it is closed, never lent again."""
        try:
            try:
                fairy.invalidate()
            except Exception:  # noqa: S110 - it is broken already
                pass
            self._close(fairy)
        finally:
            self._release()

    def clear(self) -> None:
        """Close every idle connection (lent ones close when they come back, if broken)."""
        while True:
            try:
                fairy = self._idle.pop()
            except IndexError:
                return
            self._close(fairy)

    @staticmethod
    def _close(fairy: Any) -> None:
        try:
            fairy.close()
        except Exception:  # noqa: S110 - closing a dead connection may fail; it is gone either way
            pass

    def keep_idle(self, count: int) -> None:
        """Keep up to ``count`` idle connections (never more than may be lent at once).

        For a process whose threads borrow more connections at once than
        ``pool_size`` (an engine worker: relay, consumers, partition runs):
        returned connections beyond the idle limit are closed, and opened again
        at the next peak — a connection setup, and a server process, each time.
        """
        self._size = max(self._size, min(count, self._limit))

    @property
    def idle(self) -> int:
        return len(self._idle)
