"""Which worker owns which ordering partition of a subscription.

Workers announce themselves with a *member* lease (``members`` scope) that
they renew while alive. Each subscription's consumer aims at a fair share
of the partitions — ``ceil(partitions / live members)`` — taking free or
expired partition leases up to its share and giving back what exceeds it,
so a worker that joins (on this machine or another) gets work within a few
seconds, and the partitions of a worker that dies are taken over once its
leases expire. Ownership is a lease with fencing (:mod:`.leases`): a worker
that lost a partition cannot commit work for it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from typing import TYPE_CHECKING

from archipel.engine.leases import Lease, LeaseStore
from archipel.errors import LeaseLostError

if TYPE_CHECKING:
    from collections.abc import Container

    from archipel.domain.domain import Domain

__all__ = ["Membership", "PartitionOwnership"]

log = logging.getLogger("archipel.engine.ownership")


class Membership:
    """This worker's member lease and the count of live workers (cached briefly)."""

    def __init__(
        self,
        leases: LeaseStore,
        domain: Domain,
        worker_id: str,
        lease_seconds: float,
        relay_weight: float = 0.0,
    ) -> None:
        self.leases = leases
        self.relay_weight = relay_weight
        self._relays: set[str] = set()
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.scope = f"{domain.snake_name}/members"
        self._lease: Lease | None = None
        self._count = 1
        self._counted_at = 0.0
        self._lock = threading.Lock()

    def heartbeat(self) -> None:
        """Join, or renew membership when a third of the lease has passed."""
        with self._lock:
            lease = self._lease
            if lease is not None and lease.remaining() > self.lease_seconds * 2 / 3:
                return
            if lease is not None:
                try:
                    self.leases.renew(lease, self.lease_seconds)
                    return
                except LeaseLostError:
                    self._lease = None
            self._lease = self.leases.acquire(
                f"{self.scope}/{self.worker_id}", self.scope, self.worker_id, self.lease_seconds
            )

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._counted_at > min(1.0, self.lease_seconds / 4):
            owners = {r["owner"] for r in self.leases.live(self.scope)}
            owners.add(self.worker_id)
            self._count = len(owners)
            self._relays = {r["owner"] for r in self.leases.live("relay")} & owners
            self._counted_at = now

    def recount(self) -> None:
        """Count the live workers again at the next look (one left the group, or joined)."""
        with self._lock:
            self._counted_at = float("-inf")

    def count(self) -> int:
        """Live workers (at least 1: this one)."""
        with self._lock:
            self._refresh()
            return self._count

    def capacities(self) -> tuple[float, float, bool]:
        """``(total capacity, this worker's capacity, this worker relays)`` of the live workers.

        A worker counts 1, less ``relay_weight`` while it relays an outbox:
        the relay costs it a share of its time, so it takes fewer partitions.
        """
        with self._lock:
            self._refresh()
            relays = self.worker_id in self._relays
            # when every worker relays (a sharded outbox), the relay costs all of them alike
            weight = self.relay_weight if 1 < self._count and len(self._relays) < self._count else 0.0
            total = self._count - weight * len(self._relays)
            return total, (1.0 - weight if relays else 1.0), relays

    def leave(self) -> None:
        with self._lock:
            if self._lease is not None:
                try:
                    self.leases.release(self._lease)
                except Exception:
                    log.exception("leaving the worker group failed")
                self._lease = None


class PartitionOwnership:
    """The partitions of one subscription owned by this worker."""

    def __init__(
        self,
        leases: LeaseStore,
        membership: Membership,
        domain: Domain,
        subscription: str,
        partitions: int,
        worker_id: str,
        lease_seconds: float,
    ) -> None:
        self.leases = leases
        self.membership = membership
        self.subscription = subscription
        self.partitions = partitions
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.scope = f"{domain.snake_name}/partition/{subscription}"
        self.owned: dict[int, Lease] = {}
        # start looking at a worker-specific partition so that joining
        # workers do not all contend for partition 0
        self._offset = zlib.crc32(worker_id.encode()) % partitions

    def lease_id(self, partition: int) -> str:
        return f"{self.scope}/{partition}"

    def share(self) -> int:
        """This worker's fair number of partitions (rounded so that all are covered)."""
        total, mine, relays = self.membership.capacities()
        exact = self.partitions * mine / max(total, 1e-9)
        if relays and mine < 1.0:
            # the relaying worker rounds down, the others round up: nothing is left over
            return max(1, math.floor(exact + 1e-9))
        return min(self.partitions, math.ceil(exact - 1e-9))

    def acquire_missing(self) -> list[int]:
        """Take free or expired partitions up to the fair share; return the new ones.

        One read of the subscription's leases and one transaction taking every free one up
        to the share (:meth:`~archipel.engine.leases.LeaseStore.acquire_many`), not a
        transaction per partition: a worker starting holds its share at once."""
        share = self.share()
        if len(self.owned) >= share:
            return []
        wanted = {
            self.lease_id(partition): partition
            for partition in ((self._offset + step) % self.partitions for step in range(self.partitions))
            if partition not in self.owned
        }
        gained: list[int] = []
        for lease in self.leases.acquire_many(
            list(wanted), self.scope, self.worker_id, self.lease_seconds, share - len(self.owned)
        ):
            partition = wanted[lease.id]
            self.owned[partition] = lease
            gained.append(partition)
        return gained

    def surplus(self) -> list[int]:
        """Partitions beyond the fair share (give them back so others can work)."""
        extra = len(self.owned) - self.share()
        if extra <= 0:
            return []
        # give back the ones furthest from our preferred start
        ranked = sorted(self.owned, key=lambda p: (p - self._offset) % self.partitions)
        return ranked[-extra:]

    def renew_idle(self, idle_after: float, skip: Container[int] = ()) -> list[int]:
        """Renew leases not fenced for ``idle_after`` seconds, but those of ``skip``; return the
        partitions lost."""
        lost = []
        threshold = self.lease_seconds - idle_after
        for partition, lease in list(self.owned.items()):
            if partition in skip or lease.remaining() > threshold:
                continue
            try:
                self.leases.renew(lease, self.lease_seconds)
            except LeaseLostError:
                lost.append(partition)
                del self.owned[partition]
        return lost

    def release(self, partition: int) -> None:
        lease = self.owned.pop(partition, None)
        if lease is not None:
            try:
                self.leases.release(lease)
            except Exception:
                log.exception("releasing partition %s of %s failed", partition, self.subscription)

    def drop(self, partition: int) -> None:
        """Forget a partition whose lease was lost (nothing to release)."""
        self.owned.pop(partition, None)

    def release_all(self) -> None:
        for partition in list(self.owned):
            self.release(partition)
