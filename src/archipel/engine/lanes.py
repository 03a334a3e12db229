"""Priority lanes: bulk work never delays production work, and is never starved.

Give a command a priority with ``domain.process(cmd, priority=...)``, or
mark a whole block of work::

    from archipel.engine import lanes

    with lanes.bulk():                    # every command processed here is bulk
        for row in import_file:
            domain.process(ImportBook(**row))

Events raised while handling a command inherit its priority. With
``[server] priority_lanes = true`` the relay publishes messages with a
negative priority to separate ``<category>:bulk`` streams; consumers serve
the production streams first and give bulk a bounded share of every tick, so
a flood of bulk messages adds at most one small bulk batch to the latency
of a production message, and bulk still advances when production is busy.
Without lanes every message travels on the production streams (the outbox
still relays higher priorities first).

Order is kept per aggregate *within* a lane; an aggregate that receives
both bulk and production messages has no order across the two lanes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from archipel.utils.processing import Priority, processing_priority

__all__ = [
    "BULK",
    "PRODUCTION",
    "BULK_PRIORITY",
    "LOW_PRIORITY",
    "NORMAL_PRIORITY",
    "HIGH_PRIORITY",
    "CRITICAL_PRIORITY",
    "bulk",
    "priority",
    "lane_of",
]

PRODUCTION = "production"
BULK = "bulk"

BULK_PRIORITY = int(Priority.BULK)
LOW_PRIORITY = int(Priority.LOW)
NORMAL_PRIORITY = int(Priority.NORMAL)
HIGH_PRIORITY = int(Priority.HIGH)
CRITICAL_PRIORITY = int(Priority.CRITICAL)


@contextmanager
def priority(level: int) -> Iterator[None]:
    """Commands processed inside the block get priority ``level`` (unless given one)."""
    with processing_priority(level):
        yield


@contextmanager
def bulk() -> Iterator[None]:
    """Commands processed inside the block (and their events) travel in the bulk lane."""
    with priority(BULK_PRIORITY):
        yield


def lane_of(level: int | None, lanes_enabled: bool) -> str:
    """The lane of a message with priority ``level``: bulk when negative and lanes are on."""
    if lanes_enabled and level is not None and level < 0:
        return BULK
    return PRODUCTION
