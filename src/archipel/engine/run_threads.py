"""The threads of a consumer's partition runs: started, collected and drained by the consumer.

A partition with runnable entries gets a *run* in a pool thread
(:meth:`RunThreads._run`): batches (:mod:`.partition_run`) until nothing
is left to run, taking in what the consumer's reading thread adds to the
partition's inbox meanwhile. One run per partition at a time, also when
another run failed (an outage): a run ends in its own time, and the next of
its partition starts only once it has been collected. The
consumer's thread alone starts runs, collects their results (a run's
failure is raised there) and drains them — has them stop after their
current batch and waits — before anything that must not race a fenced
commit (giving partitions back, running taken-over entries, recovering
lost read replies).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from archipel.utils.doorbell import Doorbell

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.engine.ownership import PartitionOwnership
    from archipel.engine.partition_run import PartitionRunner
    from archipel.engine.queue import PartitionQueue
    from archipel.engine.subscriptions import Subscription

__all__ = ["RunThreads"]


class RunThreads:
    """The partition runs of one consumer (the base of :class:`~archipel.engine.consumer.Consumer`)."""

    domain: Domain
    sub: Subscription
    runner: PartitionRunner
    ownership: PartitionOwnership
    parts: dict[int, PartitionQueue]

    def _init_runs(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        #: the run in progress of each partition that has one
        self._running: dict[int, Future[int]] = {}
        #: rung when a run ends (the reading thread may be waiting for room)
        self._finished = Doorbell()
        #: runs stop after one batch per lane instead of going on (``step``, :meth:`_drain`)
        self._one_tick = False

    def _lost(self, partition: int, committing: bool = False) -> None:
        """Forget ``partition``: another worker took it over."""
        raise NotImplementedError

    @staticmethod
    def _absorb(part: PartitionQueue) -> None:
        """Move the inbox into the lanes' queues (holding the lock, or with no run going on)."""
        for item in part.inbox:
            part.queues[item.lane].append(item)
        part.inbox.clear()

    @staticmethod
    def _has_work(part: PartitionQueue) -> bool:
        """Something in its queues may run now (or its acknowledgement be retried)."""
        now = time.monotonic()
        return any(item.next_at <= now for q in part.queues.values() for item in q)

    def _startable(self) -> bool:
        """A partition without a run has something to run."""
        return any(
            not part.running and (part.inbox or self._has_work(part)) for part in list(self.parts.values())
        )

    def _start_runs(self) -> None:
        """Start a run for every partition without one that has something to run."""
        for part in list(self.parts.values()):
            if part.running or part.number in self.runner.lost or part.number in self._running:
                # (a run of this partition not collected yet: it may be a run of a queue
                # forgotten since — the partition lost, then taken again — still ending)
                continue
            self._absorb(part)
            if self._has_work(part):
                part.running = True
                self._running[part.number] = self._executor().submit(self._run, part)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.ownership.partitions, thread_name_prefix=f"archipel-{self.sub.handler_cls.__name__}"
            )
        return self._pool

    def _run(self, part: PartitionQueue) -> int:
        """A partition's run (in a thread of the pool): batches until nothing is left to run."""
        runner = self.runner
        total = 0
        try:
            with self.domain.domain_context():
                while True:
                    handled = runner.run_partition(part)
                    total += handled
                    with part.lock:
                        go_on = not self._one_tick and self.parts.get(part.number) is part
                        # (forgotten meanwhile: the partition was lost to another worker)
                        if go_on and part.inbox and part.number not in runner.lost:
                            self._absorb(part)  # arrived meanwhile: this run takes it
                            continue
                        if go_on and handled and part.number not in runner.lost and self._has_work(part):
                            continue  # more than a batch was waiting
                    # acknowledgements held for a next batch that this run will not start
                    total += runner.ack_held(part)
                    with part.lock:
                        if go_on and part.inbox and part.number not in runner.lost:
                            self._absorb(part)  # arrived during that acknowledgement
                            continue
                        part.running = False
                        break
        except BaseException:
            with part.lock:
                part.running = False
            raise
        finally:
            self._finished.ring()
        return total

    def _collect(self) -> int:
        """Count the runs that ended; raise the first failure of one."""
        handled = 0
        failure: BaseException | None = None
        for number, future in list(self._running.items()):
            if not future.done():
                continue
            del self._running[number]
            try:
                handled += future.result()
            except BaseException as exc:
                failure = failure or exc
        self._forget_lost()
        if failure is not None:
            raise failure
        return handled

    def _drain(self) -> int:
        """Have the runs stop after their current batch, wait for them; return how many they handled."""
        stepping = self._one_tick
        self._one_tick = True
        try:
            for future in list(self._running.values()):
                try:
                    future.result()
                except BaseException:  # noqa: S110 - _collect raises it
                    pass
        finally:
            self._one_tick = stepping
        return self._collect()

    def _forget_lost(self) -> None:
        """Forget the partitions that runs found taken over (in this thread: it owns ``parts``)."""
        lost = self.runner.lost
        while lost:
            self._lost(lost.pop(), committing=True)
