"""The outbox relay: moves committed messages from the outbox to the broker.

For each database of the domain, one worker at a time is the relay (a
lease, ``relay/<database>``): two relays publishing concurrently could
interleave an aggregate's messages out of order. The leader claims rows
(highest priority first, then oldest) with a row lease that never outlives
its leadership, publishes them pipelined — each to the broker stream of its
category, partition and lane — then marks them sent, fenced by the row
lease. A crash between publishing and marking re-publishes the rows later:
consumers drop the copies through their processed-message records, and a
copy never overtakes the original, so per-aggregate order holds.

The leader also purges sent rows after ``outbox_retention_seconds`` and
trims broker streams (never below what a consumer group still needs).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from archipel.engine.lanes import lane_of
from archipel.engine.leases import Lease, LeaseStore
from archipel.engine.settings import EngineSettings
from archipel.engine.streams import broker_stream, category_of, partition_of
from archipel.errors import LeaseLostError

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["OutboxRelay", "route_row"]

log = logging.getLogger("archipel.engine.relay")


def route_row(row: dict[str, Any], settings: EngineSettings) -> str:
    """The broker stream an outbox row is published to."""
    stream = row["stream"]
    return broker_stream(
        category_of(stream),
        partition_of(stream, settings.partitions),
        settings.partitions,
        lane_of(row.get("priority"), settings.priority_lanes),
    )


class OutboxRelay:
    """Relays the outboxes of one domain's databases (call :meth:`tick` in a loop)."""

    def __init__(
        self,
        domain: Domain,
        broker: Any,
        leases: LeaseStore,
        settings: EngineSettings,
        worker_id: str,
        streams_to_trim: list[str] | None = None,
    ) -> None:
        self.domain = domain
        self.broker = broker
        self.leases = leases
        self.settings = settings
        self.worker_id = worker_id
        self.streams_to_trim = streams_to_trim or []
        self._leadership: dict[str, Lease] = {}
        self._next_purge = 0.0
        self._next_trim = time.monotonic() + settings.trim_interval_seconds
        #: messages relayed since start (status, tests)
        self.relayed = 0

    def _lead(self, database_name: str) -> Lease | None:
        """Our leadership of ``database_name``'s outbox, acquired or renewed; None if another leads."""
        seconds = self.settings.lease_seconds
        lease = self._leadership.get(database_name)
        if lease is not None:
            if lease.remaining() > seconds * 2 / 3:
                return lease
            try:
                self.leases.renew(lease, seconds)
                return lease
            except LeaseLostError:
                log.warning("relay of %s: lost the leadership to another worker", database_name)
                del self._leadership[database_name]
        lease_id = f"{self.domain.snake_name}/relay/{database_name}"
        lease = self.leases.acquire(lease_id, "relay", self.worker_id, seconds)
        if lease is not None:
            self._leadership[database_name] = lease
        return lease

    def tick(self) -> int:
        """Relay one batch from each database whose relay this worker leads; return how many."""
        total = 0
        for name, database in self.domain.providers.databases.items():
            outbox_of = getattr(database, "outbox", None)
            if outbox_of is None:
                continue
            lease = self._lead(name)
            if lease is None:
                continue
            total += self._relay(outbox_of(), lease)
            self._housekeeping(outbox_of())
        self.relayed += total
        return total

    def _relay(self, outbox: Any, lease: Lease) -> int:
        # a row lease must not outlive the leadership: a new leader then sees
        # every row the old one claimed and relays them first, in order
        row_lease = lease.remaining() - self.settings.lease_seconds / 10
        if row_lease <= 0:
            return 0
        rows = outbox.claim(self.worker_id, limit=self.settings.relay_batch_size, lease_seconds=row_lease)
        if not rows:
            return 0
        ids = [row["id"] for row in rows]
        try:
            self.broker.publish_many([(route_row(row, self.settings), row["message"]) for row in rows])
        except BaseException as exc:
            try:
                outbox.release(ids, self.worker_id, error=f"{type(exc).__name__}: {exc}")
            except Exception:
                log.exception("relay: could not release %d outbox rows", len(ids))
            raise
        sent = outbox.mark_sent(ids, self.worker_id)
        if sent < len(ids):
            log.warning(
                "relay: %d of %d rows were re-leased while publishing; they will be published "
                "again and deduplicated by consumers",
                len(ids) - sent,
                len(ids),
            )
        return len(ids)

    def _housekeeping(self, outbox: Any) -> None:
        now = time.monotonic()
        if now >= self._next_purge:
            self._next_purge = now + max(1.0, self.settings.outbox_retention_seconds / 10)
            try:
                outbox.purge_sent(self.settings.outbox_retention_seconds)
            except Exception:
                log.exception("relay: purging sent outbox rows failed")
        if now >= self._next_trim and self.streams_to_trim:
            self._next_trim = now + self.settings.trim_interval_seconds
            for stream in self.streams_to_trim:
                try:
                    self.broker.trim(stream)
                except Exception:
                    log.exception("relay: trimming %s failed", stream)

    def release(self) -> None:
        """Give up every leadership (graceful shutdown)."""
        for lease in self._leadership.values():
            try:
                self.leases.release(lease)
            except Exception:
                log.exception("relay: releasing %s failed", lease.id)
        self._leadership.clear()
