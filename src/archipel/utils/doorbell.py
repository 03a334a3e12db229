"""Process-wide doorbells: wake waiting threads when work arrives, instead of polling.

``OUTBOX`` is rung after a transaction committed outbox rows (the relay waits
on it), ``BROKER`` after the database broker stored new entries (its
consumers wait on it). :mod:`archipel.adapters.sql.wakeup` carries the same
signals between processes on PostgreSQL.
"""

from __future__ import annotations

import threading

__all__ = ["Doorbell", "OUTBOX", "BROKER", "bell"]

OUTBOX = "outbox"
BROKER = "broker"


class Doorbell:
    """A generation counter: :meth:`wait` returns once :meth:`ring` was called after ``seen``.

    Read :attr:`generation` *before* looking for work, then wait with it: a
    ring between the look and the wait is not lost.
    """

    __slots__ = ("_cond", "_generation")

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def ring(self) -> None:
        """Wake every waiter (a lock and a notify: cheap enough for every commit)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Block until rung after ``seen``, or ``timeout`` seconds; True when rung."""
        with self._cond:
            if self._generation == seen and timeout > 0:
                self._cond.wait(timeout)
            return self._generation != seen


_BELLS = {OUTBOX: Doorbell(), BROKER: Doorbell()}


def bell(signal: str) -> Doorbell:
    """This process's doorbell of ``signal`` (``OUTBOX`` or ``BROKER``)."""
    return _BELLS[signal]
