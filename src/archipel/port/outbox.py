"""The outbox port: messages written in the business transaction, relayed later.

Rows are claimed with a lease (``SKIP LOCKED`` on PostgreSQL) so several
relay workers can share the work; ``mark_sent`` only succeeds for the worker
that still holds the lease (fencing: a paused worker whose lease expired and
was taken over cannot mark rows it no longer owns).

Every row carries a ``shard`` key: a stable hash of its aggregate
(:func:`shard_key`), the same for the aggregate's commands and events.
Relays split the outbox into ``n`` relay shards — rows whose
``shard % n`` is one of theirs — so several workers relay in parallel while
each aggregate's rows still go through one relay, in order.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Outbox",
    "OutboxRow",
    "ShardFence",
    "OUTBOX_PENDING",
    "OUTBOX_SENT",
    "OUTBOX_FAILED",
    "aggregate_key",
    "shard_key",
    "sharded",
    "give_shards",
    "configured_relay_shards",
]

OUTBOX_PENDING = "pending"
OUTBOX_SENT = "sent"
OUTBOX_FAILED = "failed"

#: keys: id (int, increasing), message_id, stream, shard, type, priority, correlation_id,
#: message ({"metadata", "data"}), status, attempts, lease_owner, lease_until,
#: created_at, sent_at, last_error
OutboxRow = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ShardFence:
    """The relay shard leases a relay read rows under, for outboxes that relay without row
    leases (``read_claimable``): a row is marked sent only while ``owner`` still holds the lease
    of its relay shard (``shard % of``) among ``leases`` — ``(lease id, token, relay shard)`` of
    the lease table ``table``, in the outbox's own database — unexpired (database clock), with
    the same token (never given back and taken again meanwhile)."""

    table: str
    owner: str
    of: int
    leases: tuple[tuple[str, int, int], ...]


def aggregate_key(stream: str) -> str:
    """The identity part of a message stream, the same for commands, events and fact events.

    ``"shop::order:command-42"``, ``"shop::order-42"`` and
    ``"shop::order-fact-42"`` all give ``"shop::order-42"``.
    """
    category, _, identity = stream.partition("-")
    if identity.startswith("fact-"):
        identity = identity[5:]
    base = category[: -len(":command")] if category.endswith(":command") else category
    return f"{base}-{identity}"


def shard_key(stream: str) -> int:
    """The outbox ``shard`` of a message stream: stable, non-negative, below 2**31."""
    return zlib.crc32(aggregate_key(stream).encode()) & 0x7FFFFFFF


def sharded(records: Iterable[OutboxRow]) -> list[OutboxRow]:
    """Copies of ``records`` given their ``shard`` (:func:`shard_key` of the stream, whatever
    ``shard`` they held): outbox rows written outside a transaction's ``add_outbox``."""
    return [{**record, "shard": shard_key(record["stream"])} for record in records]


def give_shards(records: Iterable[OutboxRow]) -> set[int]:
    """Give each of ``records`` its ``shard`` (:func:`shard_key` of its stream), in place,
    once: the ``INSERT`` binds it and the commit wakes those shards' relays. Returns them."""
    shards: set[int] = set()
    for record in records:
        record["shard"] = shard = shard_key(record["stream"])
        shards.add(shard)
    return shards


def configured_relay_shards(config: Mapping[str, Any]) -> int:
    """The relay shard count of a domain's config: ``[server] relay_shards``, by default
    ``partitions``, by default 4 (as the engine reads it). 1 for a value that is not a
    number of at least 1: the engine refuses it when it starts, naming it."""
    server = config.get("server") or {}
    if not isinstance(server, Mapping):
        return 1
    value = server.get("relay_shards")
    if value is None:
        value = server.get("partitions")
    if value is None:
        value = 4
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        return 1
    return int(value)


class Outbox(Protocol):
    """Relay-side access to a database's outbox table."""

    def claim(
        self,
        worker: str,
        limit: int = 100,
        lease_seconds: float = 30.0,
        shards: Sequence[int] | None = None,
        of: int = 1,
        exclude_prefix: str | None = None,
    ) -> list[OutboxRow]:
        """Lease up to ``limit`` pending (or lease-expired) rows, oldest first.

        Higher ``priority`` rows are claimed first. Increments ``attempts``.
        With ``shards``, only rows whose ``shard % of`` is one of them; with
        ``exclude_prefix``, no row whose stream starts with it.
        """
        ...

    def held_elsewhere(self, worker: str, shards: Sequence[int] | None = None, of: int = 1) -> int:
        """How many pending rows (with ``shards``, of those relay shards) another worker than
        ``worker`` holds an unexpired lease on: a relay that just took a shard over waits for
        them (a former owner's leftovers) before claiming, or it would relay newer rows first."""
        ...

    def mark_sent(self, ids: Sequence[int], worker: str) -> int:
        """Mark rows sent if ``worker`` still holds their lease; return how many."""
        ...

    def release(self, ids: Sequence[int], worker: str, error: str | None = None, failed: bool = False) -> int:
        """Give rows back (or mark them failed) with the error; return how many."""
        ...

    def release_all(self, worker: str) -> int:
        """Give back every pending row ``worker`` holds a lease on; return how many.

        A relay whose claim failed midway (the connection dropped) cannot know
        whether the claim went through: it gives back whatever it may hold
        before claiming again, so that no newer row is published before them.
        """
        ...

    def pending_count(self) -> int: ...

    def add_missing(self, records: Sequence[OutboxRow], dry_run: bool = False) -> list[OutboxRow]:
        """Add the ``records`` whose ``(message_id, stream)`` has no row yet (unless ``dry_run``),
        one repair at a time per database; return them (``archipel outbox reconcile``)."""
        ...

    def purge_sent(self, older_than_seconds: float = 0.0) -> int: ...
