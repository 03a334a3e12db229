"""Handling the entries of one owned partition: batches, one fenced transaction each.

A run takes the runnable entries of a partition's lane in order — an entry
runs only when no earlier entry of its aggregate waits for a retry — and
commits them in one transaction, fenced by the partition's lease, then
acknowledges them. A failing handler counts against its own entry (retried
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
from typing import TYPE_CHECKING, Any

from archipel.engine.invoke import (
    Batch,
    Decoded,
    decode,
    dispatch_inline,
    mark_processed,
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

    # -- one partition ----------------------------------------------------------------
    def run_partition(self, part: PartitionQueue) -> int:
        """Run the production lane, then a bounded share of the bulk lane; return how many finished.

        Bulk gets what production left of the tick, and never less than a
        quarter of it: it is never starved, and adds little latency.
        """
        tick = self.settings.messages_per_tick
        handled = self.run_lane(part, PRODUCTION, tick)
        if self.settings.priority_lanes and part.number not in self.lost:
            held = any(item.done for item in part.queues[PRODUCTION])  # committed, ack held
            share = tick if handled == 0 and not held else max(1, tick // 4)
            handled += self.run_lane(part, BULK, share)
        return handled

    def run_lane(self, part: PartitionQueue, lane: str, limit: int) -> int:
        """Run what can run of ``lane`` (at most ``limit`` in the batch) and acknowledge it;
        return how many were acknowledged.

        When entries arrived in the partition's inbox meanwhile, the acknowledgement waits
        for the next batch's (at most ``messages_per_tick`` entries wait so): the next
        batch starts one round trip sooner. An acknowledgement that never happens (the
        worker dies) only means entries delivered again, and dropped as handled.
        """
        queue = part.queues[lane]
        if not queue:
            return 0
        batch, retries, parked = self.runnable(part, lane, limit)
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
        finished = [i for i in queue if i.done]
        if not finished:
            pass
        elif not lost and part.inbox and len(finished) <= self.settings.messages_per_tick:
            # more entries arrived meanwhile and the run takes them next: their batch's
            # acknowledgement carries these too (one round trip less before it starts)
            finished = []
        else:
            self.ack(finished)
            part.queues[lane] = deque(i for i in queue if not i.done)
        if lost:
            self.lost.add(part.number)
        return len(finished)

    def ack_held(self, part: PartitionQueue) -> int:
        """Acknowledge what :meth:`run_lane` left to the next batch's acknowledgement (the run
        ends before that batch); return how many."""
        done = 0
        for lane, queue in part.queues.items():
            finished = [i for i in queue if i.done]
            if finished:
                self.ack(finished)
                part.queues[lane] = deque(i for i in queue if not i.done)
                done += len(finished)
        return done

    def runnable(self, part: PartitionQueue, lane: str, limit: int) -> tuple[list[Item], list[Item], list[Item]]:
        """``(batch, retries, parked)`` of this lane, in order, at most ``limit`` in the batch."""
        now = time.monotonic()
        batch: list[Item] = []
        retries: list[Item] = []
        parked: list[Item] = []
        blocked: set[str | None] = set()
        for item in part.queues[lane]:
            if len(batch) >= limit:
                break
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
            if not self.decoded(item):
                continue
            key = item.key
            if key in blocked:
                continue
            if item.next_at > now:
                blocked.add(key)
                continue
            if self.failures.must_park(item):
                parked.append(item)
                continue
            if item.attempts:
                retries.append(item)
                blocked.add(key)  # later entries wait for the retry's outcome
                continue
            batch.append(item)
        return batch, retries, parked

    # -- decoding -----------------------------------------------------------------------
    def decoded(self, item: Item) -> bool:
        """Decode ``item``; an undecodable one is dead-lettered at once (False)."""
        try:
            if item.decoded is None:
                entry = item.entry
                item.decoded = decode(self.domain, self.sub, entry.stream, entry.id, entry.payload)
                stream = item.decoded.stream
                item.key = aggregate_key(stream) if stream else entry.stream
        except Exception as exc:  # undecodable: not transient, dead-lettered at once
            item.decoded = Decoded(f"{item.entry.stream}:{item.entry.id}", None, None, None, item.entry.payload)
            item.key = item.entry.stream
            self.failures.failed(item, exc, retryable=False)
            return False
        return True

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
            marks = mark_processed(batch, self.sub.name, [i.decoded.message_id for i in items if i.decoded])
            for index, item in enumerate(items):
                assert item.decoded is not None
                mark = marks[index] if marks else None
                try:
                    if tracing.tracer is None:
                        run_message(self.domain, self.sub, item.decoded, batch, mark)
                    else:
                        with tracing.consume_span(item.decoded.payload, self.sub.name):
                            run_message(self.domain, self.sub, item.decoded, batch, mark)
                except OUTAGES:
                    raise
                except Exception as exc:
                    raise _HandlerFailed(index, exc) from exc
            events = list(batch.events)
            batch.commit()
        except ExpectedVersionError as exc:
            batch.rollback()
            if not self.leases.still_held(lease):
                raise LeaseLostError(f"{self.sub.name}: partition {part.number} was taken over") from exc
            raise
        except BaseException:
            batch.rollback()
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

    def ack(self, items: list[Item]) -> None:
        """Acknowledge ``items`` to the broker (one call for all their streams)."""
        by_stream: dict[str, list[str]] = {}
        for item in items:
            by_stream.setdefault(item.entry.stream, []).append(item.entry.id)
        self.broker.ack(self.group, by_stream)
