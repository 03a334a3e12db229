"""Process-wide doorbells: wake waiting threads when work arrives, instead of polling.

``OUTBOX`` is rung after a transaction committed outbox rows (the relay waits
on it), ``BROKER`` after the database broker stored new entries (its
consumers wait on it). :mod:`archipel.adapters.sql.wakeup` carries the same
signals between processes on PostgreSQL.

A ring may say *where* the work is (its keys: the broker streams written, the
relay shards of the outbox rows committed): a waiter that names its own keys
wakes only for rings of those keys, or for a ring that names none (a *broad*
ring: work anywhere, or unknown where). Rings never carry the work itself, and
waiters still look after a timeout: a ring lost, or rung under a key nobody
waits on, costs latency, never work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable, Sequence

__all__ = ["Doorbell", "OUTBOX", "BROKER", "FREED", "bell", "relay_waiting", "outbox_keys", "relay_key"]

OUTBOX = "outbox"
BROKER = "broker"
#: the ``OUTBOX`` ring key of relay shards given back (by a relay, or a worker leaving the
#: group): the relays look at the shards at once, not at their next look (up to a second)
FREED = "freed"


class Doorbell:
    """A generation counter: :meth:`wait` returns once :meth:`ring` was called after ``seen``.

    Read :attr:`generation` *before* looking for work, then wait with it: a
    ring between the look and the wait is not lost. Each key remembers the
    generation of its last ring (and broad rings count for every key): a
    waiter on some keys asks :meth:`rung` whether any of them was rung since.
    """

    __slots__ = ("_lock", "_cond", "_generation", "_broad", "_keys", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        #: threads in :meth:`wait` (changed under the lock): a ring with none notifies nobody
        self._waiters = 0
        self._generation = 0
        #: the generation of the last ring without keys (work anywhere)
        self._broad = 0
        #: key -> the generation of its last ring (keys are few: streams, relay shards)
        self._keys: dict[str, int] = {}

    @property
    def generation(self) -> int:
        return self._generation

    def ring(self, keys: Iterable[str] | None = None) -> None:
        """Wake every waiter (a lock and a notify: cheap enough for every commit); ``keys``:
        where the work is (waiters on other keys go back to sleep); None: anywhere.

        The lock is taken as a plain lock (the condition's ``with`` is Python code) and
        the condition notified only when a thread waits: most commits ring with nobody
        waiting in their process (a relay in another one)."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            if keys is None:
                self._broad = generation
            else:
                found = self._keys
                for key in keys:
                    found[key] = generation
            if self._waiters:
                self._cond.notify_all()

    def rung(self, seen: int, keys: Collection[str] | None = None) -> bool:
        """Whether a ring for any of ``keys`` (None: for anything) came after ``seen``."""
        if keys is None or self._broad > seen:
            return self._generation != seen
        get = self._keys.get
        return any(get(key, 0) > seen for key in keys)

    def last_ring(self, key: str) -> int:
        """The generation of the last ring naming ``key`` (0: none); broad rings do not count."""
        return self._keys.get(key, 0)

    def wait(self, seen: int, timeout: float, keys: Sequence[str] | None = None) -> bool:
        """Block until rung after ``seen`` (for one of ``keys``, if given), or ``timeout``
        seconds; True when rung."""
        with self._cond:
            self._waiters += 1
            try:
                if keys is None:
                    if self._generation == seen and timeout > 0:
                        self._cond.wait(timeout)
                    return self._generation != seen
                deadline = time.monotonic() + timeout
                while not self.rung(seen, keys):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._waiters -= 1


#: relay shard counts of the relays waiting in this process (how many of each)
_RELAYS: dict[int, int] = {}
_RELAYS_LOCK = threading.Lock()


def relay_waiting(of: int, waiting: bool = True) -> None:
    """A relay of ``of`` relay shards starts (``waiting``) or stops waiting on ``OUTBOX`` in
    this process: its count says which relay shard an outbox row's ``shard`` falls in."""
    with _RELAYS_LOCK:
        left = _RELAYS.get(of, 0) + (1 if waiting else -1)
        if left > 0:
            _RELAYS[of] = left
        else:
            _RELAYS.pop(of, None)


def outbox_keys(shards: Iterable[int | str]) -> list[str] | None:
    """The ``OUTBOX`` ring keys of outbox rows of these ``shard`` values (the relay shard of
    each, as this process's relays count them: :func:`relay_key`); None (a broad ring) unless
    this process's relays agree on one count (or when there is none: no relay here).
    :data:`FREED` stays itself: alone, it is rung alone whatever the relays count."""
    found = list(shards)
    freed = {FREED} if FREED in found else set()
    if freed and len(found) == 1:
        return [FREED]
    counts = list(_RELAYS)
    if len(counts) != 1:
        return None
    of = counts[0]
    try:
        return sorted({relay_key(int(shard) % of) for shard in found if shard != FREED} | freed)
    except ValueError:  # (a payload of another version)
        return None


def relay_key(shard: int) -> str:
    """The ``OUTBOX`` ring key of relay shard ``shard`` (what a relay holding it waits on)."""
    return str(shard)


_BELLS = {OUTBOX: Doorbell(), BROKER: Doorbell()}


def bell(signal: str) -> Doorbell:
    """This process's doorbell of ``signal`` (``OUTBOX`` or ``BROKER``)."""
    return _BELLS[signal]
