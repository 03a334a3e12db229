"""One subscription inside one worker: read, dispatch to partition runs, take over.

The consumer owns some ordering partitions of its subscription
(:mod:`.ownership`) and reads their broker streams with its consumer group.
Entries wait in one queue per partition and lane. A partition with
runnable entries gets a *run* in a thread of its own (:mod:`.partition_run`:
batches, one fenced transaction each, retries and dead letters, then the
acknowledgement), which goes on while more of its entries arrive; the
consumer's thread meanwhile reads on. So a new entry waits for a commit of
its own partition only, and the commits of several partitions overlap.

Per aggregate, order is kept: one run per partition at a time, and in a
run an entry runs only when no earlier entry of the same aggregate is
waiting for a retry. Giving partitions back and running what was taken
over (:mod:`.takeover_run`) wait until no run is in progress (the runs'
threads: :mod:`.run_threads`); leases are renewed by the runs' fenced
commits, and those of partitions without a run by the consumer's thread.

A partition is read only while its lease is sure to outlast the read
(:meth:`Consumer._readable`): an entry read by a worker that has lost the
partition would stay pending for it, never claimed by the new owner.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from archipel.engine.catchup import catch_up
from archipel.engine.crashes import CrashMarks
from archipel.engine.dlq import DeadLetterStore
from archipel.engine.failures import Failures, own_error_hook
from archipel.engine.handler_policy import handler_retry_policy
from archipel.engine.lanes import BULK, PRODUCTION
from archipel.engine.leases import LeaseStore
from archipel.engine.ownership import Membership, PartitionOwnership
from archipel.engine.partition_run import PartitionRunner
from archipel.engine.queue import Item, PartitionQueue
from archipel.engine.retry import Backoff
from archipel.engine.run_threads import RunThreads
from archipel.engine.settings import EngineSettings
from archipel.engine.streams import parse_broker_stream
from archipel.engine.takeover import lost_replies, take_over
from archipel.engine.takeover_run import run_taken_over
from archipel.errors import BrokerError, DatabaseError
from archipel.port.broker import Entry, GroupReader

if TYPE_CHECKING:
    from collections.abc import Iterable

    from archipel.domain.domain import Domain
    from archipel.engine.subscriptions import Subscription

__all__ = ["Consumer"]

log = logging.getLogger("archipel.engine.consumer")


#: one consumer of this process takes partitions over at a time (see :meth:`Consumer._maintain`)
_TAKEOVER = threading.Lock()


class Consumer(RunThreads):
    """Runs one subscription in this worker (call :meth:`run` in a thread, or :meth:`step`)."""

    #: the partitions' runs: batches, commits, retries, acknowledgements
    runner: PartitionRunner

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
        self.failures = Failures(
            sub.name, dlq, settings, handler_retry_policy(options), own_error_hook(sub.handler_cls)
        )
        self.runner = PartitionRunner(domain, sub, broker, leases, self.ownership, self.failures, settings)
        self._next_maintenance = 0.0
        self._next_renewal = 0.0
        self._next_dead_refresh = 0.0
        self._init_runs()
        self._groups_ready = False
        #: entries taken over and not yet run (see :meth:`_run_taken_over`)
        self._taken_over = False
        #: which taken-over entry runs here, for whoever takes over if this process dies
        self._marks = CrashMarks(leases, domain, sub.name, worker_id)
        #: a broker or database call failed: a read may have delivered entries we never got
        self._resync = False
        #: the last maintenance took partitions and left this worker short of its share
        self._look_again = False

    @property
    def handled(self) -> int:
        """Entries handled since start."""
        return self.runner.handled

    @property
    def latency(self) -> Any:
        """Histogram child observing each committed batch (set by engine.metrics; None: off)."""
        return self.runner.latency

    @latency.setter
    def latency(self, child: Any) -> None:
        self.runner.latency = child

    # -- the loop --------------------------------------------------------------
    def run(self) -> None:
        """Step until ``stop`` is set, riding out broker and database outages; then release."""
        backoff = Backoff(base=0.1, cap=5.0)
        try:
            while not self.stop.is_set():
                try:
                    self._cycle()
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
        """Maintain ownership, read what is available, handle what can run and wait for it;
        return how many handled."""
        self._one_tick = True  # each partition's run handles one tick's batch, as a loop turn
        try:
            handled = self._cycle()
            return handled + self._drain()
        finally:
            self._one_tick = False

    def _cycle(self) -> int:
        """One turn of the loop: runs started here may still be going on when it returns."""
        handled = self._collect()
        now = time.monotonic()
        if now >= self._next_maintenance:
            self._look_again = False
            handled += self._maintain()
            # having just taken partitions while short of its share, it looks again at the next
            # turn: partitions free up one after the other (a stopping worker gives its leases
            # back in turn, a dead one's expire one renewal apart), and an unowned one is not read
            wait = 0.0 if self._look_again else min(1.0, self.settings.lease_seconds / 4)
            self._next_maintenance = now + wait
        if not self.parts:
            self.stop.wait(self.settings.blocking_timeout_ms / 1000.0)
            return handled
        self._fill()
        handled += self._work()
        if self.runner.refresh_dead:
            self.runner.refresh_dead = False
            self.failures.refresh()
        return handled

    def buffered(self) -> int:
        """Entries read and not yet acknowledged by this consumer."""
        return sum(part.size() + len(part.inbox) for part in list(self.parts.values()))

    def shutdown(self) -> None:
        """Give every partition back; unhandled entries stay pending for the next owner."""
        try:
            self._drain()
        except Exception:
            log.exception("%s: a partition's run failed while stopping", self.sub.name)
        for part in list(self.parts.values()):
            try:  # (a run's last acknowledgement failed: try once more, or the next owner skips them)
                self.runner.flush_acks(part)
            except Exception as exc:
                log.warning("%s: acknowledging partition %s's finished entries failed: %s",
                            self.sub.name, part.number, exc)
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

    def _maintain(self) -> int:
        """Renew, give back and take over partitions; return how many entries runs finished meanwhile."""
        if not self._ensure_groups():
            return 0  # no partitions until the subscription has caught up
        handled = 0
        surplus = self.ownership.surplus()
        if surplus:
            handled += self._drain()  # a partition is never given back in the middle of a run
            for partition in surplus:
                self.parts.pop(partition, None)
                self.ownership.release(partition)
                log.info("%s: gave partition %s back", self.sub.name, partition)
        self._keep_alive(force=True)
        # taking over and running what was taken over is one step, done by one consumer of
        # this process at a time: when the process dies, only entries that ran were
        # delivered once more (the count that tells a message killing its worker)
        if _TAKEOVER.acquire(timeout=self.settings.lease_seconds / 8):
            try:
                gained = self.ownership.acquire_missing()
                self._look_again = bool(gained) and len(self.ownership.owned) < self.ownership.share()
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
                    handled += self._run_taken_over()
            finally:
                _TAKEOVER.release()
        now = time.monotonic()
        if now >= self._next_dead_refresh:
            self._next_dead_refresh = now + 5.0
            self.runner.refresh_dead = True
        return handled

    def _keep_alive(self, force: bool = False) -> list[int]:
        """Renew the leases no run of ours renews (partitions without a run in progress:
        a run's commits renew its own, and two writers of one lease would fence each other
        out); forget those found taken over. Return them.

        Also called between the taken-over entries, which run alone and can take longer
        than a lease."""
        now = time.monotonic()
        if not force and now < self._next_renewal:
            return []
        self._next_renewal = now + min(1.0, self.settings.lease_seconds / 4)
        busy = {number for number, part in self.parts.items() if part.running}
        lost = self.ownership.renew_idle(self.settings.lease_seconds / 3, skip=busy)
        for partition in lost:
            self._lost(partition)
        return lost

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
        """The broker streams of ``lane`` of ``partitions`` (default: every owned one)."""
        if not self.sub.partitioned:  # one partition, 0
            wanted = lane == PRODUCTION and (partitions is None or 0 in partitions)
            return list(self.sub.categories) if wanted else []
        out = []
        for partition in self.parts if partitions is None else partitions:
            out += [
                s
                for s in self.sub.broker_streams(self.settings, partition)
                if parse_broker_stream(s)[2] == lane
            ]
        return out

    def _recover_own(self) -> None:
        """Take back the entries delivered to this consumer whose read reply never came."""
        self._drain()
        for part in self.parts.values():
            self._absorb(part)
        queued = [item for part in self.parts.values() for queue in part.queues.values() for item in queue]
        queued += [item for part in self.parts.values() for item in part.acks]  # finished, not acknowledged
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
        # a batch per owned partition in each read: the partitions' runs go on in parallel.
        # Never fewer than ``read_ahead`` entries per partition: with small batches (one
        # commit per message) a read and a run's start per batch cost more than the batch
        tick = max(self.settings.messages_per_tick, self.settings.read_ahead) * max(1, len(self.parts))
        seen = self._finished.generation
        readable, block_ms = self._readable()
        # production is read as long as little of it waits, however much bulk does: a
        # production entry never waits in the broker behind buffered bulk entries
        prod = self._streams(PRODUCTION, readable) if self._queued(PRODUCTION) < 4 * tick else []
        bulk = self._streams(BULK, readable) if self._queued(BULK) < tick else []
        timeout = min(self.settings.blocking_timeout_ms, block_ms)
        if (prod or bulk) and timeout > 0 and not self._startable():
            # nothing to start meanwhile: one blocking read, which returns at once with what
            # is there (a look without blocking first was one more round trip per wake-up,
            # its reply taking the GIL while the run just started begins its batch); runs in
            # progress pick up what arrives for their partitions themselves
            self._enqueue(self.broker.read(self.group, self.worker_id, prod + bulk, count=tick, block_ms=timeout))
            return
        entries = self.broker.read(self.group, self.worker_id, prod, count=tick) if prod else []
        if bulk:
            entries += self.broker.read(self.group, self.worker_id, bulk, count=tick)
        if not entries and not self._startable() and self._next_maintenance > 0.0:
            # full, or nothing readable: wait for a run to end
            self._finished.wait(seen, timeout / 1000.0)
        self._enqueue(entries)

    def _readable(self) -> tuple[list[int], int]:
        """The owned partitions whose lease outlasts a read, and how long a read may block.

        An entry read is delivered to this consumer. Were it read after another
        worker took the partition over (our lease expired while we were busy),
        it would stay pending for us, unseen by the new owner, whose takeover
        claimed only what was pending before: lost, or run after newer entries
        once the partition changes hands again. So a partition is read only
        while its lease has more than a quarter of its length left (renewal
        keeps two thirds), and a blocking read ends before the earliest expiry.
        A partition below that mark without a run in progress (a run's commits
        renew its lease) gets its maintenance at the next step.
        """
        margin = self.settings.lease_seconds / 4
        now = time.time()
        readable: list[int] = []
        shortest = float("inf")
        for partition in self.parts:
            lease = self.ownership.owned.get(partition)
            left = lease.remaining(now) - margin if lease is not None else 0.0
            if left > 0.005:
                readable.append(partition)
                shortest = min(shortest, left)
            elif not self.parts[partition].running:
                self._next_maintenance = 0.0  # renewed (or found lost) at the next step
        return readable, int(min(shortest * 1000, self.settings.blocking_timeout_ms))

    def _queued(self, lane: str) -> int:
        """Entries of ``lane`` read and not yet finished."""
        return sum(
            len(part.queues[lane]) + sum(1 for item in part.inbox if item.lane == lane)
            for part in list(self.parts.values())
        )

    def _enqueue(self, entries: list[Entry]) -> None:
        """Hand what was read to its partition (its inbox: a run may be going on)."""
        by_part: dict[int, list[Item]] = {}
        for entry in entries:
            if self.sub.partitioned:
                _, partition, lane = parse_broker_stream(entry.stream)
            else:
                partition, lane = 0, PRODUCTION
            by_part.setdefault(partition, []).append(Item(entry, lane))
        for partition, items in by_part.items():
            part = self.parts.get(partition)
            if part is None:
                continue  # given back meanwhile: the next owner claims it
            with part.lock:
                part.inbox += items

    # -- dispatching -------------------------------------------------------------
    def _work(self) -> int:
        handled = self._collect()  # runs ended during the read: their partitions may run again
        if self._taken_over and _TAKEOVER.acquire(blocking=False):  # retries of taken-over entries
            try:
                handled += self._run_taken_over()
            finally:
                _TAKEOVER.release()
        self._start_runs()
        return handled

    def _run_taken_over(self) -> int:
        """Run the entries taken over, alone (see :mod:`.takeover_run`)."""
        handled = self._drain()
        for part in self.parts.values():
            self._absorb(part)
        done, left, lost = run_taken_over(self.parts, self.runner, self._marks, self.settings, self._keep_alive)
        for number in lost:
            if number in self.parts:  # (keep_alive forgets those it finds lost itself)
                self._lost(number, committing=True)
        if not left:
            self._taken_over = False
        return handled + done
