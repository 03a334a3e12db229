"""Handling the entries of one owned partition: batches, one fenced transaction each.

A run takes the runnable entries of a partition's lane in order — an entry
runs only when no earlier entry of its aggregate waits for a retry — and
commits them in one transaction, fenced by the partition's lease, then
acknowledges them (together, every ``max(read_ahead, messages_per_tick)``
entries and when the run ends: :meth:`PartitionRunner.flush_acks`). A failing handler counts against its own entry (retried
or dead-lettered by :class:`~archipel.engine.failures.Failures`); the rest of
the batch commits without it. A batch that fails at commit runs again one
entry per transaction, so one poison message never blocks or undoes the
others.

Partitions share nothing (different aggregates, different leases), so the
consumer runs several partitions' batches at once, each in its own thread:
while one waits for its commit, another runs Python.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, Any

from archipel.engine.invoke import (
    Batch,
    Decoded,
    decode,
    dispatch_inline,
    mark_processed,
    processed_among,
    run_message,
)
from archipel.engine.lanes import BULK, PRODUCTION
from archipel.engine.streams import aggregate_key
from archipel.errors import (
    BrokerUnavailable,
    DatabaseUnavailable,
    DuplicateMessageError,
    ExpectedVersionError,
    LeaseLostError,
    SchemaMissingError,
)
from archipel.utils import tracing

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.engine.failures import Failures
    from archipel.engine.leases import LeaseStore
    from archipel.engine.ownership import PartitionOwnership
    from archipel.engine.queue import Item, PartitionQueue
    from archipel.engine.settings import EngineSettings
    from archipel.engine.subscriptions import Subscription
    from archipel.port.broker import GroupReader

__all__ = ["PartitionRunner", "OUTAGES"]

#: failures of the infrastructure, not of a message: wait and try again, never dead-letter
OUTAGES = (BrokerUnavailable, DatabaseUnavailable, SchemaMissingError, LeaseLostError)


class _HandlerFailed(Exception):
    """The handler of ``items[index]`` raised ``error`` (the batch was rolled back)."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


class PartitionRunner:
    """Runs the queued entries of one subscription's partitions (thread-safe across partitions).

    ``lost`` collects the partitions whose lease turned out to be taken over
    while committing: the consumer forgets them (in its own thread).
    """

    def __init__(
        self,
        domain: Domain,
        sub: Subscription,
        broker: GroupReader,
        leases: LeaseStore,
        ownership: PartitionOwnership,
        failures: Failures,
        settings: EngineSettings,
    ) -> None:
        self.domain = domain
        self.sub = sub
        self.broker = broker
        self.group = sub.name
        self.leases = leases
        self.ownership = ownership
        self.failures = failures
        self.settings = settings
        #: entries handled since start
        self.handled = 0
        self._count_lock = threading.Lock()
        #: histogram child observing each committed batch (set by engine.metrics; None: off)
        self.latency: Any = None
        #: a replay succeeded or it is time: the dead-lettered aggregates are read again
        self.refresh_dead = False
        #: partitions lost while committing, for the consumer to forget
        self.lost: set[int] = set()
        #: entries acknowledged together, and looked up ahead of a batch: ``read_ahead``, and
        #: with larger batches a batch's worth (one look-up and one acknowledgement per batch
        #: were two round trips a batch, each waiting for the GIL: bench/README.md, session 15)
        self.span = max(settings.read_ahead, settings.messages_per_tick)

    # -- one partition ----------------------------------------------------------------
    def run_partition(self, part: PartitionQueue) -> int:
        """Run the production lane, then a bounded share of the bulk lane; return how many finished.

        Bulk gets what production left of the tick, and never less than a
        quarter of it: it is never starved, and adds little latency.
        """
        tick = self.settings.messages_per_tick
        handled = self.run_lane(part, PRODUCTION, tick)
        if self.settings.priority_lanes and part.number not in self.lost:
            share = tick if handled == 0 else max(1, tick // 4)
            handled += self.run_lane(part, BULK, share)
        return handled

    def run_lane(self, part: PartitionQueue, lane: str, limit: int) -> int:
        """Run what can run of ``lane`` (at most ``limit`` in the batch) and acknowledge it."""
        queue = part.queues[lane]
        if not queue:
            return 0
        batch, retries, parked, scanned = self.runnable(part, lane, limit)
        for item in parked:
            self.failures.park(item)
        for item in batch:
            if item.decoded is not None and item.decoded.skip:
                item.done = True
        work = [i for i in batch if not i.done]
        lost = False
        try:
            if work:
                self.settle(part, work)
            for item in retries:
                self.one(part, item)
        except LeaseLostError:
            lost = True
        finished = self._take_finished(queue, scanned)
        if finished:
            part.acks += finished
        if lost or len(part.acks) >= self.span:
            self.flush_acks(part)
        if lost:
            self.lost.add(part.number)
        return len(finished)

    def flush_acks(self, part: PartitionQueue) -> None:
        """Acknowledge the entries of ``part`` that finished (one broker call for all of them).

        A run acknowledges every :attr:`span` finished entries and when it
        ends, not after each batch: with one message per batch, an
        acknowledgement per message was a round trip per commit; with batches
        of ``messages_per_tick``, one per batch was a round trip per commit too. An entry
        committed and not acknowledged yet is delivered again only if this
        worker dies or loses the partition meanwhile, and then skipped (its
        processed mark committed with its effects). If the call fails, the
        entries stay in ``part.acks`` and the next run acknowledges them.
        """
        if part.acks:
            self.ack(part.acks)
            part.acks = []

    @staticmethod
    def _take_finished(queue: deque[Item], scanned: int) -> list[Item]:
        """Remove and return the finished entries among the first ``scanned`` of ``queue``.

        Only those can have finished in a run of the lane (the others were not
        looked at), so a batch of one costs O(batch), not O(queue): rebuilding
        the whole queue after every one-message batch was ~8 % of a partition
        run's Python time with ``messages_per_tick = 1``.
        """
        finished: list[Item] = []
        while scanned and queue and queue[0].done:  # the usual case: the batch was the head
            finished.append(queue.popleft())
            scanned -= 1
        if not scanned or not any(item.done for item in islice(queue, scanned)):
            return finished
        head = [queue.popleft() for _ in range(min(scanned, len(queue)))]
        queue.extendleft(reversed([item for item in head if not item.done]))
        return finished + [item for item in head if item.done]

    def runnable(
        self, part: PartitionQueue, lane: str, limit: int
    ) -> tuple[list[Item], list[Item], list[Item], int]:
        """``(batch, retries, parked, scanned)`` of this lane, in order, at most ``limit`` in the
        batch; ``scanned``: how many entries of the lane's queue it looked at."""
        now = time.monotonic()
        batch: list[Item] = []
        retries: list[Item] = []
        parked: list[Item] = []
        blocked: set[str | None] = set()
        scanned = 0
        failures = self.failures
        for item in part.queues[lane]:
            if len(batch) >= limit:
                break
            scanned += 1
            if item.done:
                continue  # handled; its acknowledgement failed and is retried
            if item.deliveries:
                # taken over: runs alone, first (see takeover_run), and later entries of its
                # aggregate wait for it. Its key is needed even when that run has not reached
                # it yet (it was interrupted, or another consumer of the process is taking
                # over): decode it now, or newer entries of its aggregate would overtake it
                if self.decoded(item):
                    blocked.add(item.key)
                continue
            if item.decoded is None and not self.decoded(item):  # (most were decoded by a look ahead)
                continue
            key = item.key
            if key in blocked:
                continue
            if item.next_at > now:
                blocked.add(key)
                continue
            if failures.dead and failures.must_park(item):  # (nothing dead-lettered: no call)
                parked.append(item)
                continue
            if item.attempts:
                retries.append(item)
                blocked.add(key)  # later entries wait for the retry's outcome
                continue
            batch.append(item)
        return batch, retries, parked, scanned

    # -- decoding -----------------------------------------------------------------------
    def decoded(self, item: Item) -> bool:
        """Decode ``item``; an undecodable one is dead-lettered at once (False)."""
        try:
            if item.decoded is None:
                self._decode(item)
        except Exception as exc:  # undecodable: not transient, dead-lettered at once
            item.decoded = Decoded(f"{item.entry.stream}:{item.entry.id}", None, None, None, item.entry.payload)
            item.key = item.entry.stream
            self.failures.failed(item, exc, retryable=False)
            return False
        return True

    def _decode(self, item: Item) -> Decoded:
        entry = item.entry
        item.decoded = decoded = decode(self.domain, self.sub, entry.stream, entry.id, entry.payload)
        item.key = aggregate_key(decoded.stream) if decoded.stream else entry.stream
        return decoded

    def look_ahead(self, part: PartitionQueue, batch: Batch, items: list[Item]) -> None:
        """Look up in one query whether ``items`` and up to :attr:`span` entries queued after
        them were processed before; mark those that were not ``fresh``.

        With one message per batch, a look per batch was a round trip per
        commit; now a batch of fresh entries is marked processed without one.
        Nothing else can record a fresh entry meanwhile: the partition is
        ours (a former owner's commit is fenced out) and a twin (the relay
        published it twice) is left unmarked while an earlier copy is queued,
        so it is looked up after that one committed. A failed commit unmarks
        its batch (it may have committed after all).
        """
        seen = {item.decoded.message_id for item in items if item.decoded is not None}
        look = [item for item in items if not item.fresh]
        chosen = set(map(id, items))
        most = len(items) + self.span
        for item in part.queues[items[0].lane]:
            if len(look) >= most:
                break
            if item.done or id(item) in chosen:
                continue
            if item.decoded is None:
                try:
                    self._decode(item)
                except Exception:  # noqa: S112 - dead-lettered in order, when its turn comes
                    continue
            decoded = item.decoded
            assert decoded is not None
            if decoded.skip:
                continue
            if decoded.message_id in seen:
                item.fresh = False  # a twin of an earlier entry: looked up once that one is done
                continue
            seen.add(decoded.message_id)
            if not item.fresh and not item.deliveries:  # (taken over: looked up when it runs alone)
                look.append(item)
        if not look:
            return
        ids = [item.decoded.message_id for item in look if item.decoded is not None]
        found = processed_among(batch, self.sub.name, ids)
        if found is None:
            return
        for item in look:
            item.fresh = item.decoded is not None and item.decoded.message_id not in found

    # -- committing -----------------------------------------------------------------------
    def settle(self, part: PartitionQueue, items: list[Item]) -> None:
        """Commit ``items``; a failing handler counts against its item only, the rest commit."""
        while items:
            try:
                self.commit(part, items)
                return
            except _HandlerFailed as failed:
                bad = items[failed.index]
                self.failures.failed(bad, failed.error)
                # later entries of the failing aggregate wait for its retry; the others go again
                items = [
                    item
                    for n, item in enumerate(items)
                    if n < failed.index or (n > failed.index and item.key != bad.key)
                ]
            except OUTAGES:
                raise
            except Exception:
                # failed at commit (a conflict between two of them?): one transaction each,
                # an aggregate stopping at its first failure
                stopped: set[str | None] = set()
                for item in items:
                    if item.key not in stopped and not self.one(part, item):
                        stopped.add(item.key)
                return

    def one(self, part: PartitionQueue, item: Item) -> bool:
        """Handle one item in its own transaction; False when it failed."""
        try:
            self.commit(part, [item])
        except OUTAGES:
            raise
        except DuplicateMessageError:
            item.done = True  # handled elsewhere meanwhile
        except _HandlerFailed as failed:
            self.failures.failed(item, failed.error)
            return False
        except Exception as exc:
            self.failures.failed(item, exc)
            return False
        return True

    def commit(self, part: PartitionQueue, items: list[Item]) -> None:
        """Run ``items``' handlers in one transaction fenced by the partition's lease, and commit."""
        lease = self.ownership.owned.get(part.number)
        if lease is None:
            raise LeaseLostError(f"partition {part.number} of {self.sub.name} is not ours")
        latency = self.latency
        started = time.perf_counter() if latency is not None else 0.0
        batch = Batch(self.domain)
        try:
            # the fence first: a lost lease fails fast, before any handler runs
            expires = self.leases.fence(lease, batch.transaction("default"), self.settings.lease_seconds)
            for item in items:  # (loops, not comprehensions: each is a function made per batch)
                if not item.fresh:
                    self.look_ahead(part, batch, items)
                    break
            ids: list[str] = []
            fresh: list[str] = []
            for item in items:
                if item.decoded:
                    ids.append(item.decoded.message_id)
                    if item.fresh:
                        fresh.append(item.decoded.message_id)
            marks = mark_processed(batch, self.sub.name, ids, fresh)
            domain, sub = self.domain, self.sub
            for index, item in enumerate(items):
                decoded = item.decoded
                assert decoded is not None
                mark = marks[index] if marks else None
                try:
                    if tracing.tracer is None:
                        run_message(domain, sub, decoded, batch, mark)
                    else:
                        with tracing.consume_span(decoded.payload, sub.name):
                            run_message(domain, sub, decoded, batch, mark)
                except OUTAGES:
                    raise
                except Exception as exc:
                    raise _HandlerFailed(index, exc) from exc
            events = list(batch.events)
            batch.commit()
        except ExpectedVersionError as exc:
            batch.rollback()
            self._unmark(items)
            if not self.leases.still_held(lease):
                raise LeaseLostError(f"{self.sub.name}: partition {part.number} was taken over") from exc
            raise
        except BaseException:
            batch.rollback()
            self._unmark(items)
            raise
        self.leases.confirm(lease, expires)
        if latency is not None:
            latency.observe(time.perf_counter() - started)
        for item in items:
            item.done = True
            if self.failures.dead and item.key in self.failures.dead:
                self.refresh_dead = True  # a replay succeeded: its aggregate may be free again
        with self._count_lock:
            self.handled += len(items)
        dispatch_inline(self.domain, events)

    @staticmethod
    def _unmark(items: list[Item]) -> None:
        """The batch failed, perhaps after its commit reached the database: look again next time."""
        for item in items:
            item.fresh = False

    def ack(self, items: list[Item]) -> None:
        """Acknowledge ``items`` to the broker (one call for all their streams)."""
        by_stream: dict[str, list[str]] = {}
        for item in items:
            by_stream.setdefault(item.entry.stream, []).append(item.entry.id)
        self.broker.ack(self.group, by_stream)
