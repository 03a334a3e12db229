"""What a consumer holds: entries read from the broker, waiting per partition and lane."""

from __future__ import annotations

import threading
from collections import deque

from archipel.engine.invoke import Decoded
from archipel.engine.lanes import BULK, PRODUCTION
from archipel.port.broker import Entry

__all__ = ["Item", "PartitionQueue"]


class Item:
    """One entry waiting in a partition queue, with its retry state."""

    __slots__ = (
        "entry", "lane", "key", "decoded", "attempts", "first_failed_at", "next_at", "error", "done", "deliveries",
        "fresh",
    )

    def __init__(self, entry: Entry, lane: str) -> None:
        self.entry = entry
        self.lane = lane
        #: the aggregate the entry belongs to (its ordering key), once decoded
        self.key: str | None = None
        self.decoded: Decoded | None = None
        self.attempts = 0
        self.first_failed_at: float | None = None
        #: monotonic time before which it must not run again (retry backoff)
        self.next_at = 0.0
        self.error = ""
        #: handled (or dead-lettered): to be acknowledged
        self.done = False
        #: taken over from a dead or paused owner: how many times the broker delivered it
        #: (it runs alone, see :mod:`archipel.engine.takeover_run`); 0 otherwise
        self.deliveries = 0
        #: not processed yet, by a look at the processed records since which nothing can have
        #: recorded it (see :meth:`PartitionRunner.look_ahead`); False: unknown
        self.fresh = False


class PartitionQueue:
    """The entries of one owned partition, one FIFO per lane.

    The queues belong to the partition's run while one is going on
    (``running``); the reading thread adds to ``inbox`` under ``lock``, and
    the run moves the inbox into the queues.
    """

    __slots__ = ("number", "queues", "inbox", "lock", "running", "acks")

    def __init__(self, number: int) -> None:
        self.number = number
        self.queues: dict[str, deque[Item]] = {PRODUCTION: deque(), BULK: deque()}
        #: read, not yet in ``queues``
        self.inbox: list[Item] = []
        self.lock = threading.Lock()
        #: a run of this partition is going on (set and cleared by the consumer)
        self.running = False
        #: finished (committed or dead-lettered), not acknowledged yet: the run acknowledges
        #: them together (see :meth:`PartitionRunner.flush_acks`)
        self.acks: list[Item] = []

    def size(self) -> int:
        """Entries held: queued, and finished but not acknowledged yet."""
        return len(self.queues[PRODUCTION]) + len(self.queues[BULK]) + len(self.acks)
