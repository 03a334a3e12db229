"""Broker stream names: which broker stream carries a message.

A message's own stream is ``<category>-<id>`` (events) or
``<category>:command-<id>`` (commands). On the broker there is one stream
per *category*, split into ``partitions`` ordering partitions by a stable
hash of the aggregate identity, and into lanes::

    identity::customer#2            events of customers hashed to partition 2
    identity::customer:command#0    commands for customers in partition 0
    identity::customer:bulk#2       bulk-lane events (priority lanes on)

With ``partitions = 1`` the ``#<n>`` suffix is left out. Every message of
one aggregate (its commands, events and fact events) lands in the same
partition, and a partition is consumed by one worker at a time, which is
what keeps each aggregate's messages in order while different partitions
run in parallel. Raw streams read by subscribers (``book_supply``) are
not partitioned.
"""

from __future__ import annotations

import functools
import zlib

from archipel.engine.lanes import BULK, PRODUCTION
from archipel.port.outbox import aggregate_key

__all__ = [
    "category_of",
    "aggregate_key",
    "partition_of",
    "broker_stream",
    "broker_streams",
    "parse_broker_stream",
]


def category_of(stream: str) -> str:
    """``"shop::order-42"`` → ``"shop::order"``; ``"shop::order:command-42"`` → ``"shop::order:command"``."""
    return stream.split("-", 1)[0]


def partition_of(stream: str, partitions: int) -> int:
    """The ordering partition of a message stream (stable across processes and machines)."""
    if partitions <= 1:
        return 0
    return zlib.crc32(aggregate_key(stream).encode()) % partitions


def broker_stream(category: str, partition: int, partitions: int, lane: str = PRODUCTION) -> str:
    """The broker stream of ``category`` for one partition and lane."""
    name = f"{category}:bulk" if lane == BULK else category
    return name if partitions <= 1 else f"{name}#{partition}"


def broker_streams(category: str, partitions: int, lanes: tuple[str, ...] = (PRODUCTION,)) -> list[str]:
    """Every broker stream of ``category`` (all partitions, the given lanes)."""
    return [broker_stream(category, p, partitions, lane) for lane in lanes for p in range(partitions)]


@functools.lru_cache(maxsize=4096)
def parse_broker_stream(name: str) -> tuple[str, int, str]:
    """``(category, partition, lane)`` of a broker stream name made by :func:`broker_stream`
    (cached: a worker parses the same few names for every entry it reads)."""
    base, sep, number = name.rpartition("#")
    if not sep or not number.isdigit():
        base, partition = name, 0
    else:
        partition = int(number)
    if base.endswith(":bulk"):
        return base[: -len(":bulk")], partition, BULK
    return base, partition, PRODUCTION
