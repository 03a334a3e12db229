"""Running the entries taken over from an earlier owner: alone, in order, under crash marks.

A message that kills the worker *process* leaves no count in memory. The
entries a new owner takes over (:mod:`.takeover`) that were delivered before
run first, one at a time in a fixed order (partition, lane, id), each
acknowledged at once, by one consumer of the process at a time, each under
a crash mark (:mod:`.crashes`): an entry whose workers died running it
:func:`death_limit` times is dead-lettered without running again (and later
entries of its aggregate are parked).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from archipel.engine.lanes import BULK, PRODUCTION
from archipel.errors import LeaseLostError

if TYPE_CHECKING:
    from collections.abc import Callable

    from archipel.engine.crashes import CrashMarks
    from archipel.engine.partition_run import PartitionRunner
    from archipel.engine.queue import PartitionQueue
    from archipel.engine.settings import EngineSettings

__all__ = ["run_taken_over", "death_limit"]


def death_limit(settings: EngineSettings) -> int:
    """Deaths while running alone after which a taken-over entry is dead-lettered.

    ``max_retries``, and at least 2: a worker can also die of another
    message running in a parallel thread, so one death alone is no proof.
    """
    return max(2, settings.max_retries)


def run_taken_over(
    parts: dict[int, PartitionQueue],
    runner: PartitionRunner,
    marks: CrashMarks,
    settings: EngineSettings,
    keep_alive: Callable[[], list[int]] = list,
) -> tuple[int, bool, list[int]]:
    """Run the taken-over entries of ``parts``, one per transaction, each acknowledged at once.

    Call it with no other run of these partitions in progress. ``keep_alive``
    is called after each entry: one at a time they can take longer than a
    lease, so it renews the leases of the partitions waiting meanwhile and
    returns those found lost (they are left alone from then on). Returns how
    many finished, whether some are left (waiting for a retry), and the
    partitions lost to another worker meanwhile.
    """
    limit = death_limit(settings)
    failures = runner.failures
    handled = 0
    left = False
    lost: list[int] = []
    for number in sorted(parts):
        part = parts.get(number)
        if part is None:
            continue  # forgotten meanwhile (lost, see keep_alive)
        for lane in (PRODUCTION, BULK):
            if number in lost:
                break
            blocked: set[str | None] = set()
            for item in list(part.queues[lane]):
                if item.done:
                    continue
                if not item.deliveries:
                    # runs the ordinary way (a partition run): a taken-over entry of its
                    # aggregate after it waits for it, never overtakes it
                    if runner.decoded(item):
                        blocked.add(item.key)
                    continue
                if not runner.decoded(item) or item.key in blocked:
                    blocked.add(item.key)
                    left = left or not item.done
                    continue
                if item.next_at > time.monotonic():
                    blocked.add(item.key)  # failed again: its retry waits, later entries too
                    left = True
                    continue
                assert item.decoded is not None
                marked = False
                if failures.must_park(item):
                    failures.park(item)
                elif item.decoded.skip:
                    item.done = True
                else:
                    deaths = marks.begin(item.decoded.message_id)
                    marked = True
                    if deaths >= limit:
                        failures.died(item, deaths + 1)  # later entries of its aggregate are parked
                    else:
                        try:
                            if not runner.one(part, item):
                                blocked.add(item.key)
                                left = left or not item.done
                        except LeaseLostError:
                            lost.append(number)
                            break
                if item.done:
                    runner.ack([item])
                    if marked:
                        marks.end(item.decoded.message_id)
                    part.queues[lane].remove(item)
                    handled += 1
                lost += keep_alive()
                if number in lost:
                    break
    return handled, left, lost
