"""Entries delivered before: those an earlier owner left, and those whose read reply was lost.

When a consumer takes a partition over, whatever an earlier owner read and
never acknowledged comes first (:func:`take_over`). Each such entry carries
the broker's delivery count: one delivered more than once was buffered by a
worker that died or lost the partition, so the consumer runs it alone, under
a crash mark (:mod:`.crashes`), before anything newer.

A read can also be carried out by the broker while its reply is lost with
the connection: those entries are pending for this very consumer, which
still holds the partition, so no one else would ever claim them
(:func:`lost_replies` finds them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archipel.engine.lanes import PRODUCTION
from archipel.engine.queue import Item, PartitionQueue
from archipel.engine.streams import parse_broker_stream

if TYPE_CHECKING:
    from collections.abc import Iterable

    from archipel.engine.settings import EngineSettings
    from archipel.engine.subscriptions import Subscription
    from archipel.port.broker import Entry, GroupReader

__all__ = ["take_over", "lost_replies"]


def take_over(
    broker: GroupReader, sub: Subscription, settings: EngineSettings, worker_id: str, partition: int
) -> tuple[PartitionQueue, bool]:
    """Claim every entry of ``partition`` pending for an earlier owner, oldest first.

    Returns the partition's queue and whether some entry was delivered before
    (it must run alone first). Raises if the broker fails: a takeover is all
    or nothing.
    """
    part = PartitionQueue(partition)
    delivered_before = False
    streams = sub.broker_streams(settings, partition if sub.partitioned else None)
    counted = getattr(broker, "delivery_counts", None)  # optional in the port
    for stream in streams:
        lane = parse_broker_stream(stream)[2] if sub.partitioned else PRODUCTION
        claimed = broker.claim_stale(stream, sub.name, worker_id, 0)
        counts = counted(stream, sub.name, [e.id for e in claimed]) if counted and claimed else {}
        for entry in claimed:
            item = Item(entry, lane)
            deliveries = int(counts.get(entry.id, 1))
            if deliveries > 1:
                # every earlier delivery ended without an ack: its worker died or lost
                # the partition. They count as attempts
                item.deliveries = deliveries
                item.attempts = min(deliveries - 1, settings.max_retries)
                delivered_before = True
            part.queues[lane].append(item)
    return part, delivered_before


def lost_replies(
    broker: GroupReader, group: str, worker_id: str, streams: list[str], queued: Iterable[Item]
) -> list[Entry]:
    """Entries pending for this consumer in ``streams`` that are not ``queued``: their reply was lost.

    They are newer than anything queued from their stream and older than
    anything read next, so the caller appends them before reading on.
    """
    own = getattr(broker, "own_pending", None)  # optional in the port
    if own is None or not streams:
        return []
    known = {(item.entry.stream, item.entry.id) for item in queued}
    return [entry for entry in own(group, worker_id, streams) if (entry.stream, entry.id) not in known]
