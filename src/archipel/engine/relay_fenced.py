"""Relaying under the relay shard leases alone (a mixin of the relay): one write per row.

Where an outbox can be relayed without row leases — a PostgreSQL outbox whose relay shard
leases live in its own database (``read_claimable``, :mod:`archipel.adapters.sql.outbox_fenced`)
— the relay reads the claimable rows of its shards instead of leasing them, and marks them
sent under a :class:`~archipel.port.outbox.ShardFence`: each only while it still holds the
lease of its relay shard it read it under, with the same token. What a row lease did is kept so:

- *a read ahead never returns rows still being published or marked*: the relay keeps, by
  database, the ids it read and has not yet seen marked (or given back), and each read skips
  them; a mark, once it returned (or failed), lets them go — marked, reads no longer see
  them; not marked, they are read again and published again (consumers drop the copies);
- *a relay taking a shard over relays the former owner's rows first*: they are pending, so
  they are the oldest it reads. A relay gives shards back only once its marks have landed
  (:meth:`~archipel.engine.relay.OutboxRelay.flush` before the give-back), so a hand-over
  publishes nothing twice; after a crash or a stall the unmarked rows are published again,
  before anything newer. A former owner that stalled publishes nothing once its shard leases
  are nearly spent (as with row leases, which never outlived them) and marks nothing after;
- rows given back (a failed publish) are read again first: reads no longer skip them, and
  the batch read ahead is dropped before.

Mixed into :class:`~archipel.engine.relay.OutboxRelay`, whose ``worker_id``, ``shards``
and ``lease_store`` it uses.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from archipel.engine.leases import Lease, LeaseStore
from archipel.engine.ownership import Membership
from archipel.port.outbox import ShardFence

__all__ = ["FencedMarks"]

log = logging.getLogger("archipel.engine.relay")


class FencedMarks:
    """Which rows a relay has read and not yet marked, its fences, and its marks."""

    worker_id: str
    shards: int
    lease_store: Any  # (database name) -> (LeaseStore, Membership | None)

    def _start_fencing(self) -> None:
        #: ids read, by database, not yet marked nor given back: reads skip them
        self._in_flight: dict[str, set[int]] = {}
        self._in_flight_lock = threading.Lock()
        #: database -> its lease table, where relaying is fenced on the shard leases ("": not)
        self._fence_tables: dict[str, str] = {}

    def _fence(self, name: str, outbox: Any, owned: dict[int, Lease]) -> ShardFence | None:
        """The fence of the shards ``owned``, where ``outbox`` can be relayed without row
        leases (``read_claimable``): its shard leases live in its own PostgreSQL database."""
        table = self._fence_tables.get(name)
        if table is None:
            store: tuple[LeaseStore, Membership | None] = self.lease_store(name)
            engine = getattr(store[0].database, "engine", None)
            fenced = getattr(outbox, "fenced", None) is not None and not getattr(engine, "is_memory", True)
            same = fenced and getattr(engine, "key", None) == getattr(outbox.engine, "key", ())
            table = self._fence_tables[name] = store[0].schema.table if same else ""
        if not table:
            return None
        leases = tuple((lease.id, lease.token, shard) for shard, lease in owned.items())
        return ShardFence(table, self.worker_id, self.shards, leases)

    def _skip(self, name: str) -> tuple[int, ...]:
        """The ids a read of ``name``'s outbox must leave out (read, not yet marked)."""
        with self._in_flight_lock:
            return tuple(self._in_flight.get(name, ()))

    def _landed(self, name: str, ids: list[Any], add: bool = False) -> None:
        """Note rows read (``add``), or marked or given back: no longer skipped by reads."""
        with self._in_flight_lock:
            found = self._in_flight.setdefault(name, set())
            if add:
                found.update(ids)
            else:
                found.difference_update(ids)

    def _mark_sent(self, name: str, outbox: Any, ids: list[Any], fence: ShardFence | None) -> None:
        if fence is None:
            sent = outbox.mark_sent(ids, self.worker_id)
        else:
            try:  # fenced on the shard leases; the rows are read again unless marked
                sent = outbox.mark_sent(ids, self.worker_id, fence=fence)
            finally:
                self._landed(name, ids)
        if sent < len(ids):
            log.warning(
                "relay: %d of %d rows were re-leased (or their shards lost) while publishing; "
                "they will be published again and deduplicated by consumers",
                len(ids) - sent,
                len(ids),
            )
