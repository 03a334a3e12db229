"""Which relay shards of each database's outbox one worker holds (a mixin of the relay).

A worker takes its fair share of the ``relay_shards`` shards, ``ceil(shards / live
workers)``, starting from its own offset; it renews the leases it holds, gives back
the ones beyond its share (furthest from its offset first) and, when short, tries
the free ones each second — at the next tick right after a look that took some; a
worker holding none looks every poll interval (``blocking_timeout_ms``), however
often commits wake it.
Mixed into :class:`~archipel.engine.relay.OutboxRelay`, whose ``domain``,
``settings``, ``leases``, ``membership``, ``worker_id``, ``shards``, ``_offset``,
``_owned``, ``_next_acquire``, ``_settling``, ``_short`` and ``_drop_prefetch`` it uses.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archipel.engine.leases import Lease, LeaseStore
from archipel.engine.ownership import Membership
from archipel.engine.settings import EngineSettings
from archipel.errors import LeaseLostError

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["ShardLeadership"]

log = logging.getLogger("archipel.engine.relay")


class ShardLeadership:
    """Taking, renewing and giving back relay shard leases."""

    domain: Domain
    settings: EngineSettings
    leases: LeaseStore
    membership: Membership | None
    worker_id: str
    shards: int
    _offset: int
    _owned: dict[str, dict[int, Lease]]
    _next_acquire: dict[str, float]
    _settling: dict[str, set[int]]
    _short: set[str]
    #: the relay's: forget rows claimed ahead for a database whose shards changed
    _drop_prefetch: Callable[[str, Any], None]

    @property
    def _leadership(self) -> dict[str, dict[int, Lease]]:
        """The shards held, by database (those with at least one)."""
        return {name: owned for name, owned in self._owned.items() if owned}

    def lease_id(self, database_name: str, shard: int) -> str:
        return f"{self.domain.snake_name}/relay/{database_name}/{shard}"

    @property
    def _look_seconds(self) -> float:
        """How often a relay without shards looks for one: the engine's poll interval."""
        return self.settings.blocking_timeout_ms / 1000.0

    def _next_look_in(self, database_name: str) -> float:
        """Seconds until this relay's next look at the shards of ``database_name`` (0: due)."""
        return max(0.0, self._next_acquire.get(database_name, 0.0) - time.monotonic())

    def _share(self) -> int:
        live = self.membership.count() if self.membership is not None else 1
        return min(self.shards, math.ceil(self.shards / max(1, live)))

    def _lead(self, database_name: str, outbox: Any) -> dict[int, Lease]:
        """The shards of ``database_name``'s outbox this worker relays: renewed, up to its share."""
        seconds = self.settings.lease_seconds
        owned = self._owned.setdefault(database_name, {})
        changed = False
        for shard, lease in list(owned.items()):
            if lease.remaining() > seconds * 2 / 3:
                continue
            try:
                self.leases.renew(lease, seconds)
            except LeaseLostError:
                log.warning("relay of %s: lost shard %s to another worker", database_name, shard)
                del owned[shard]
                changed = True
        now = time.monotonic()
        if now >= self._next_acquire.get(database_name, 0.0):
            # one at work looks each second; one without shards every poll interval. Not at
            # every tick: a relay without shards is woken by every commit with outbox rows, of
            # any process (it cannot tell whose shard it wrote), and a look per wake-up was a
            # transaction per command for each such worker
            self._next_acquire[database_name] = now + (min(1.0, seconds / 4) if owned else self._look_seconds)
            share = self._share()
            if len(owned) > share:
                self._drop_prefetch(database_name, outbox)
                # give back the ones furthest from our preferred start
                ranked = sorted(owned, key=lambda s: (s - self._offset) % self.shards)
                for shard in ranked[share:]:
                    self._give_up_shard(database_name, shard)
                changed = True
            # one look at who holds what, then a try of the others only (see held_by_others)
            held = self.leases.held_by_others("relay", self.worker_id) if len(owned) < share else set()
            gained = False
            for step in range(self.shards):
                if len(owned) >= share:
                    break
                shard = (self._offset + step) % self.shards
                lease_id = self.lease_id(database_name, shard)
                if shard in owned or lease_id in held:
                    continue
                taken = self.leases.acquire(lease_id, "relay", self.worker_id, seconds)
                if taken is not None:
                    owned[shard] = taken
                    self._settling.setdefault(database_name, set()).add(shard)
                    changed = gained = True
            if len(owned) < share:
                self._short.add(database_name)  # shards may free up: no commit will say so
                if gained:
                    # shards free up together (a worker stopping gives all of its back, one
                    # lease after the other; those of a dead one expire within a renewal
                    # period): having just taken some, look again at the next tick, not in a
                    # second — a shard nobody relays holds its aggregates' messages back
                    self._next_acquire[database_name] = now
            else:
                self._short.discard(database_name)
        if changed:
            self._drop_prefetch(database_name, outbox)
        return owned

    def _give_up_shard(self, database_name: str, shard: int) -> None:
        lease = self._owned.get(database_name, {}).pop(shard, None)
        if lease is None:
            return
        try:
            self.leases.release(lease)
        except Exception:
            log.exception("relay: releasing %s failed", lease.id)
