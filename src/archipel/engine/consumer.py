"""One subscription inside one worker: read, handle in batches, retry, dead-letter, ack.

The consumer owns some ordering partitions of its subscription
(:mod:`.ownership`) and reads their broker streams with its consumer group.
Entries wait in one queue per partition and lane. Each step handles, per
partition, the runnable entries — production lane first, then a bounded
share of the bulk lane — in one transaction per partition, fenced by that
partition's lease, then acknowledges them.

Per aggregate, order is kept: an entry runs only when no earlier entry of
the same aggregate is waiting for a retry. A failing entry with a transient
error (:mod:`.classify`) is retried after an exponential backoff with jitter
while other aggregates go on; after ``max_retries`` — at once for a business
error — it goes to the dead-letter queue (and, with
``park_after_dead_letter``, later entries of its aggregate are parked behind
it). When a batch fails, it is rolled back and its entries run again one per
transaction, so one poison message never blocks or undoes the others.

A message that kills the worker *process* leaves no count in memory. The
entries a new owner takes over (:mod:`.takeover`) that were delivered before
run first, one at a time in a fixed order (partition, lane, id), each
acknowledged at once, by one consumer of the process at a time, each under
a crash mark (:mod:`.crashes`): an entry whose workers died running it
``max(2, max_retries)`` times is dead-lettered without running again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from archipel.engine.catchup import catch_up
from archipel.engine.crashes import CrashMarks
from archipel.engine.dlq import DeadLetterStore
from archipel.engine.failures import Failures
from archipel.engine.handler_policy import handler_retry_policy
from archipel.engine.invoke import (
    Batch,
    Decoded,
    decode,
    dispatch_inline,
    mark_processed,
    run_message,
)
from archipel.engine.lanes import BULK, PRODUCTION
from archipel.engine.leases import LeaseStore
from archipel.engine.ownership import Membership, PartitionOwnership
from archipel.engine.queue import Item, PartitionQueue
from archipel.engine.retry import Backoff
from archipel.engine.settings import EngineSettings
from archipel.engine.streams import aggregate_key, parse_broker_stream
from archipel.engine.takeover import lost_replies, take_over
from archipel.errors import (
    BrokerError,
    BrokerUnavailable,
    DatabaseError,
    DatabaseUnavailable,
    DuplicateMessageError,
    ExpectedVersionError,
    LeaseLostError,
    SchemaMissingError,
)
from archipel.port.broker import Entry, GroupReader
from archipel.utils import tracing

if TYPE_CHECKING:
    from collections.abc import Iterable

    from archipel.domain.domain import Domain
    from archipel.engine.subscriptions import Subscription

__all__ = ["Consumer"]

log = logging.getLogger("archipel.engine.consumer")

#: failures of the infrastructure, not of a message: wait and try again, never dead-letter
_OUTAGES = (BrokerUnavailable, DatabaseUnavailable, SchemaMissingError, LeaseLostError)


#: one consumer of this process takes partitions over at a time (see :meth:`Consumer._maintain`)
_TAKEOVER = threading.Lock()


class _HandlerFailed(Exception):
    """The handler of ``items[index]`` raised ``error`` (the batch was rolled back)."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


class Consumer:
    """Runs one subscription in this worker (call :meth:`run` in a thread, or :meth:`step`)."""

    def __init__(
        self,
        domain: Domain,
        sub: Subscription,
        broker: GroupReader,
        leases: LeaseStore,
        dlq: DeadLetterStore,
        membership: Membership,
        settings: EngineSettings,
        worker_id: str,
        stop: threading.Event,
    ) -> None:
        self.domain = domain
        self.sub = sub
        self.broker = broker
        self.leases = leases
        self.dlq = dlq
        self.settings = settings
        self.worker_id = worker_id
        self.stop = stop
        self.group = sub.name
        self.ownership = PartitionOwnership(
            leases, membership, domain, sub.name, sub.partitions(settings), worker_id, settings.lease_seconds
        )
        self.parts: dict[int, PartitionQueue] = {}
        options = getattr(getattr(sub.handler_cls, "_meta", None), "extra", {})
        self.failures = Failures(sub.name, dlq, settings, handler_retry_policy(options))
        self._next_maintenance = 0.0
        self._next_dead_refresh = 0.0
        self._refresh_dead = False
        self.handled = 0
        self._pool: ThreadPoolExecutor | None = None
        self._count_lock = threading.Lock()
        self._groups_ready = False
        #: entries taken over and not yet run (see :meth:`_run_taken_over`)
        self._taken_over = False
        #: which taken-over entry runs here, for whoever takes over if this process dies
        self._marks = CrashMarks(leases, domain, sub.name, worker_id)
        #: a broker or database call failed: a read may have delivered entries we never got
        self._resync = False
        #: histogram child observing each committed batch (set by engine.metrics; None: off)
        self.latency: Any = None

    # -- the loop --------------------------------------------------------------
    def run(self) -> None:
        """Step until ``stop`` is set, riding out broker and database outages; then release."""
        backoff = Backoff(base=0.1, cap=5.0)
        try:
            while not self.stop.is_set():
                try:
                    self.step()
                    backoff.reset()
                except (BrokerError, DatabaseError) as exc:
                    self._resync = True
                    delay = backoff.next()
                    log.warning("%s: %s; retrying in %.1fs", self.sub.name, exc, delay)
                    self.stop.wait(delay)
                except Exception:
                    self._resync = True
                    delay = backoff.next()
                    log.exception("%s: unexpected error; retrying in %.1fs", self.sub.name, delay)
                    self.stop.wait(delay)
        finally:
            self.shutdown()

    def step(self) -> int:
        """Maintain ownership, read what is available, handle what can run; return how many handled."""
        now = time.monotonic()
        if now >= self._next_maintenance:
            self._maintain()
            self._next_maintenance = now + min(1.0, self.settings.lease_seconds / 4)
        if not self.parts:
            self.stop.wait(self.settings.blocking_timeout_ms / 1000.0)
            return 0
        self._fill()
        handled = self._work()
        if self._refresh_dead:
            self._refresh_dead = False
            self.failures.refresh()
        return handled

    def buffered(self) -> int:
        """Entries read and not yet acknowledged by this consumer."""
        return sum(part.size() for part in self.parts.values())

    def shutdown(self) -> None:
        """Give every partition back; unhandled entries stay pending for the next owner."""
        self.parts.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        try:
            self.ownership.release_all()
        except Exception:
            log.exception("%s: releasing partitions failed", self.sub.name)

    # -- ownership -------------------------------------------------------------
    def _ensure_groups(self) -> bool:
        """Create the groups on every stream at once (not at a first read), so that
        trimming never drops what this subscription has not read yet; a new
        subscription first catches up from the event store (:mod:`.catchup`).
        False while another worker is catching it up."""
        if self._groups_ready:
            return True
        if not catch_up(self.domain, self.sub, self.broker, self.settings, self.leases, self.worker_id):
            return False
        self._groups_ready = True
        return True

    def _maintain(self) -> None:
        if not self._ensure_groups():
            return  # no partitions until the subscription has caught up
        for partition in self.ownership.surplus():
            if self.parts.get(partition) is not None:
                self.parts.pop(partition)
            self.ownership.release(partition)
            log.info("%s: gave partition %s back", self.sub.name, partition)
        for partition in self.ownership.renew_idle(self.settings.lease_seconds / 3):
            self._lost(partition)
        # taking over and running what was taken over is one step, done by one consumer of
        # this process at a time: when the process dies, only entries that ran were
        # delivered once more (the count that tells a message killing its worker)
        if _TAKEOVER.acquire(timeout=self.settings.lease_seconds / 8):
            try:
                gained = self.ownership.acquire_missing()
                for index, partition in enumerate(gained):
                    try:
                        self._adopt(partition)
                    except BaseException:
                        # a takeover is all or nothing: reading new entries of a partition
                        # whose earlier owner's pending ones were not claimed would run them
                        # out of order. Give these back; the next attempt starts over
                        for left in gained[index:]:
                            self.ownership.release(left)
                        raise
                if self._taken_over:
                    self._run_taken_over()
            finally:
                _TAKEOVER.release()
        now = time.monotonic()
        if now >= self._next_dead_refresh:
            self._next_dead_refresh = now + 5.0
            self._refresh_dead = True

    def _adopt(self, partition: int) -> None:
        # whatever an earlier owner read and did not acknowledge comes first
        part, delivered_before = take_over(self.broker, self.sub, self.settings, self.worker_id, partition)
        self._taken_over = self._taken_over or delivered_before
        self.parts[partition] = part  # only now: every entry of the earlier owner is claimed
        log.info("%s: owns partition %s (%d entries taken over)", self.sub.name, partition, part.size())

    def _lost(self, partition: int, committing: bool = False) -> None:
        self.parts.pop(partition, None)
        self.ownership.drop(partition)
        if committing:
            log.warning(
                "%s: lost partition %s to another worker while committing: the commit was refused "
                "(fenced) and rolled back", self.sub.name, partition,
            )
        else:
            log.warning("%s: lost partition %s to another worker (lease expired)", self.sub.name, partition)

    # -- reading -------------------------------------------------------------
    def _streams(self, lane: str, partitions: Iterable[int] | None = None) -> list[str]:
        """The broker streams of ``lane`` of ``partitions`` (default: every partition owned)."""
        wanted = list(self.parts) if partitions is None else list(partitions)
        if not self.sub.partitioned:
            return list(self.sub.categories) if lane == PRODUCTION and wanted else []
        out = []
        for partition in wanted:
            out += [
                s
                for s in self.sub.broker_streams(self.settings, partition)
                if parse_broker_stream(s)[2] == lane
            ]
        return out

    def _recover_own(self) -> None:
        """Take back the entries delivered to this consumer whose read reply never came."""
        queued = (item for part in self.parts.values() for queue in part.queues.values() for item in queue)
        streams = self._streams(PRODUCTION) + self._streams(BULK)
        fresh = lost_replies(self.broker, self.group, self.worker_id, streams, queued)
        self._resync = False
        if fresh:
            log.warning(
                "%s: recovered %d entries delivered by a read whose reply was lost",
                self.sub.name, len(fresh),
            )
            self._enqueue(fresh)

    def _fill(self) -> None:
        if self._resync:
            self._recover_own()
        tick = self.settings.messages_per_tick
        buffered = self.buffered()
        if buffered >= 4 * tick:
            return
        readable, window = self._readable()
        prod, bulk = self._streams(PRODUCTION, readable), self._streams(BULK, readable)
        entries = self.broker.read(self.group, self.worker_id, prod, count=tick) if prod else []
        if bulk and sum(p.queues[BULK].__len__() for p in self.parts.values()) < tick:
            entries += self.broker.read(self.group, self.worker_id, bulk, count=tick)
        block_ms = min(self.settings.blocking_timeout_ms, int(window * 1000))
        if not entries and not self._runnable_exists() and prod + bulk and block_ms > 0:
            entries = self.broker.read(self.group, self.worker_id, prod + bulk, count=tick, block_ms=block_ms)
        self._enqueue(entries)

    def _readable(self) -> tuple[list[int], float]:
        """The owned partitions that may be read now, and for how many seconds at most.

        A read delivers its entries to this consumer. Read once another worker has taken the
        partition over (this one was busy past its lease, and does not know yet), they would
        stay pending for a consumer that no longer owns it — the new owner claimed what was
        pending before — stuck, or run after newer entries once the partition moves again.
        So a partition is read only while its lease has more than a quarter of
        ``lease_seconds`` left (maintenance renews it at two thirds), and a blocking read
        ends before the first of those leases reaches that mark. A partition below it is
        renewed (or found lost) by the next step's maintenance, brought forward.
        """
        margin = self.settings.lease_seconds / 4
        readable: list[int] = []
        window = float("inf")
        for partition in self.parts:
            lease = self.ownership.owned.get(partition)
            left = lease.remaining() - margin if lease is not None else 0.0
            if left > 0:
                readable.append(partition)
                window = min(window, left)
            else:
                self._next_maintenance = 0.0
        return readable, (window if readable else 0.0)

    def _enqueue(self, entries: list[Entry]) -> None:
        for entry in entries:
            if self.sub.partitioned:
                _, partition, lane = parse_broker_stream(entry.stream)
            else:
                partition, lane = 0, PRODUCTION
            part = self.parts.get(partition)
            if part is None:
                continue  # given back meanwhile: the next owner claims it
            part.queues[lane].append(Item(entry, lane))

    def _runnable_exists(self) -> bool:
        now = time.monotonic()
        return any(item.next_at <= now for part in self.parts.values() for q in part.queues.values() for item in q)

    # -- handling ------------------------------------------------------------
    def _work(self) -> int:
        tick = self.settings.messages_per_tick
        handled = 0
        if self._taken_over and _TAKEOVER.acquire(blocking=False):  # retries of taken-over entries
            try:
                handled = self._run_taken_over()
            finally:
                _TAKEOVER.release()
        handled += self._each_partition(PRODUCTION, tick)
        if self.settings.priority_lanes:
            # bulk gets what production left of the tick, and never less than a
            # quarter of it: it is never starved, and adds little latency
            share = tick if handled == 0 else max(1, tick // 4)
            handled += self._each_partition(BULK, share)
        return handled

    def _each_partition(self, lane: str, limit: int) -> int:
        """Run ``lane`` of every owned partition; partitions with work run in parallel.

        Partitions share nothing (different aggregates, different leases), so
        their transactions overlap: while one waits for the database, another
        runs Python.
        """
        busy = [part for part in self.parts.values() if part.queues[lane]]
        if len(busy) <= 1:
            return sum(self._run_lane(part, lane, limit) for part in busy)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.ownership.partitions, thread_name_prefix=f"archipel-{self.sub.handler_cls.__name__}"
            )
        domain = self.domain

        def run(part: PartitionQueue) -> int:
            with domain.domain_context():
                return self._run_lane(part, lane, limit)

        runs = [self._pool.submit(run, part) for part in busy]
        # every run ends before this returns or raises: a run left behind when another failed
        # (a broker outage) would race the next step's run of its partition on the same queue
        wait(runs)
        return sum(future.result() for future in runs)

    def _run_taken_over(self) -> int:
        """Run the entries taken over, one per transaction, each acknowledged at once.

        In this thread, in a fixed order (partition, lane, id), each under a
        crash mark (:mod:`.crashes`): if one of them kills the process, its
        mark says so to whichever worker runs it next. An entry whose workers
        died running it :meth:`_death_limit` times is dead-lettered without
        running again (and later entries of its aggregate are parked).
        """
        limit = self._death_limit()
        handled = 0
        left = False
        for number in sorted(self.parts):
            part = self.parts.get(number)
            for lane in (PRODUCTION, BULK):
                if part is None or number not in self.parts:
                    break
                blocked: set[str | None] = set()
                for item in list(part.queues[lane]):
                    if item.done:
                        continue
                    if not item.deliveries:
                        # runs the ordinary way, later: entries of its aggregate after it wait too
                        if self._decoded(item):
                            blocked.add(item.key)
                        continue
                    if not self._decoded(item) or item.key in blocked:
                        blocked.add(item.key)
                        left = left or not item.done
                        continue
                    if item.next_at > time.monotonic():
                        blocked.add(item.key)  # failed again: its retry waits, later entries too
                        left = True
                        continue
                    assert item.decoded is not None
                    marked = False
                    if self.failures.must_park(item):
                        self.failures.park(item)
                    elif item.decoded.skip:
                        item.done = True
                    else:
                        deaths = self._marks.begin(item.decoded.message_id)
                        marked = True
                        if deaths >= limit:
                            self.failures.died(item, deaths + 1)  # later entries of its aggregate are parked
                        else:
                            try:
                                if not self._one(part, item):
                                    blocked.add(item.key)
                                    left = left or not item.done
                            except LeaseLostError:
                                self._lost(number, committing=True)
                                break
                    if item.done:
                        self._ack([item])
                        if marked:
                            self._marks.end(item.decoded.message_id)
                        part.queues[lane].remove(item)
                        handled += 1
        if not left:
            self._taken_over = False
        return handled

    def _death_limit(self) -> int:
        """Deaths while running alone after which a taken-over entry is dead-lettered.

        ``max_retries``, and at least 2: a worker can also die of another
        message running in a parallel thread, so one death alone is no proof.
        """
        return max(2, self.settings.max_retries)

    def _decoded(self, item: Item) -> bool:
        """Decode ``item``; an undecodable one is dead-lettered at once (False)."""
        try:
            self._prepare(item)
        except Exception as exc:  # undecodable: not transient, dead-lettered at once
            item.decoded = Decoded(f"{item.entry.stream}:{item.entry.id}", None, None, None, item.entry.payload)
            item.key = item.entry.stream
            self.failures.failed(item, exc, retryable=False)
            return False
        return True

    def _prepare(self, item: Item) -> None:
        if item.decoded is None:
            entry = item.entry
            item.decoded = decode(self.domain, self.sub, entry.stream, entry.id, entry.payload)
            stream = item.decoded.stream
            item.key = aggregate_key(stream) if stream else entry.stream

    def _runnable(self, part: PartitionQueue, lane: str, limit: int) -> tuple[list[Item], list[Item], list[Item]]:
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
            if item.deliveries and not item.done:
                # taken over: runs alone, first (_run_taken_over), and later entries of its
                # aggregate wait for it. Its key is needed even when that run has not reached
                # it yet (it was interrupted, or another consumer of the process is taking
                # over): decode it now, or newer entries of its aggregate would overtake it
                if self._decoded(item):
                    blocked.add(item.key)
                continue
            if not self._decoded(item):
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

    def _run_lane(self, part: PartitionQueue, lane: str, limit: int) -> int:
        queue = part.queues[lane]
        if not queue:
            return 0
        batch, retries, parked = self._runnable(part, lane, limit)
        for item in parked:
            self.failures.park(item)
        skipped = [i for i in batch if i.decoded is not None and i.decoded.skip]
        for item in skipped:
            item.done = True
        work = [i for i in batch if not i.done]
        lost = False
        try:
            if work:
                self._settle(part, work)
            for item in retries:
                self._one(part, item)
        except LeaseLostError:
            lost = True
        finished = [i for i in queue if i.done]
        if finished:
            self._ack(finished)
            part.queues[lane] = deque(i for i in queue if not i.done)
        if lost:
            self._lost(part.number, committing=True)
        return len(finished)

    def _settle(self, part: PartitionQueue, items: list[Item]) -> None:
        """Commit ``items``; a failing handler counts against its item only, the rest commit."""
        while items:
            try:
                self._commit(part, items)
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
            except _OUTAGES:
                raise
            except Exception:
                # failed at commit (a conflict between two of them?): one transaction each,
                # an aggregate stopping at its first failure
                stopped: set[str | None] = set()
                for item in items:
                    if item.key not in stopped and not self._one(part, item):
                        stopped.add(item.key)
                return

    def _one(self, part: PartitionQueue, item: Item) -> bool:
        """Handle one item in its own transaction; False when it failed."""
        try:
            self._commit(part, [item])
        except _OUTAGES:
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

    def _commit(self, part: PartitionQueue, items: list[Item]) -> None:
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
                try:
                    if tracing.tracer is None:
                        run_message(self.domain, self.sub, item.decoded, batch, marks[index] if marks else None)
                    else:
                        with tracing.consume_span(item.decoded.payload, self.sub.name):
                            run_message(
                                self.domain, self.sub, item.decoded, batch, marks[index] if marks else None
                            )
                except _OUTAGES:
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
                self._refresh_dead = True  # a replay succeeded: its aggregate may be free again
        with self._count_lock:
            self.handled += len(items)
        dispatch_inline(self.domain, events)

    def _ack(self, items: list[Item]) -> None:
        by_stream: dict[str, list[str]] = {}
        for item in items:
            by_stream.setdefault(item.entry.stream, []).append(item.entry.id)
        self.broker.ack(self.group, by_stream)
