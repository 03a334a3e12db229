"""Which relay shards of each database's outbox one worker holds (a mixin of the relay).

A worker takes its fair share of the ``relay_shards`` shards, ``ceil(shards / live
workers)``, starting from its own offset; it renews the leases it holds, gives back
the ones beyond its share (furthest from its offset first) and, when short, tries
the free ones each second — at the next tick right after a look that took some; a
worker holding none looks every poll interval (``blocking_timeout_ms``), however
often commits wake it. Shards given back — by a relay over its share or stopping, or
when a worker leaves the group (the shares grow) — ring :data:`~archipel.utils.doorbell.FREED`
in every process (``database.relay_shards_freed()``: ``NOTIFY`` on PostgreSQL): each
relay then looks at once, counting the workers again, instead of up to a second later
(a poll interval for one holding none) while nobody relays those shards.
It takes, renews and gives back the shards of a database together, in one
transaction each (:meth:`~archipel.engine.leases.LeaseStore.acquire_many`), so a
relay starting, or a second one joining, holds its whole share at once.

The leases of an outbox live in the outbox's own database, and the workers counted
for the share are those that reach it (members of the same database): the relays
that can relay an outbox are exactly those that see its leases. A per-process outbox
(memory) is shared by the worker threads of its process only, so its leases never
reach across processes (held in PostgreSQL beside the default outbox's, each of
several worker processes would take part of the shards of its own outbox only,
and relay nothing of the rest); the default database's leases and members are the
worker's own (``leases``, ``membership``).
Mixed into :class:`~archipel.engine.relay.OutboxRelay`, whose ``domain``,
``settings``, ``leases``, ``membership``, ``worker_id``, ``shards``, ``_offset``,
``_owned``, ``_next_acquire``, ``_settling``, ``_short``, ``_stores``, ``_drop_prefetch`` and
``flush`` it uses.
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
from archipel.utils.doorbell import FREED, OUTBOX, bell

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["ShardLeadership", "announce_freed"]

log = logging.getLogger("archipel.engine.relay")


def announce_freed(domain: Domain, database_name: str) -> None:
    """Relay shards of ``database_name``'s outbox were given back, or a worker left the group
    whose members share them: the relays of every process that reaches it look at once
    (where the database can say so; else they find out at their next look)."""
    freed = getattr(domain.providers.databases.get(database_name), "relay_shards_freed", None)
    if freed is None:
        return
    try:
        freed()
    except Exception as exc:  # only a wake-up: the next look (within a second) finds them
        log.debug("relay: announcing shards given back failed: %s", exc)


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
    #: by database, the generation of the last FREED ring seen at a look (see :meth:`_lead`)
    _freed_seen: dict[str, int]
    #: the lease stores of the databases other than the leases' own, and their members
    _stores: dict[str, tuple[LeaseStore, Membership | None]]
    #: the relay's: forget rows claimed ahead for a database whose shards changed
    _drop_prefetch: Callable[[str, Any], None]
    #: the relay's: wait until every published batch is marked sent
    flush: Callable[[], None]

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

    def lease_store(self, database_name: str) -> tuple[LeaseStore, Membership | None]:
        """Where the leases of ``database_name``'s outbox live, and the workers that reach them:
        that database (the worker's own store and membership for the default one)."""
        if database_name == self.leases.database_name:
            return self.leases, self.membership
        found = self._stores.get(database_name)
        if found is None:
            if self._same_database(database_name):
                found = (self.leases, self.membership)
            else:
                leases = LeaseStore(self.domain, database_name)
                members = None
                if self.membership is not None:  # (without one, the relay takes every shard)
                    members = Membership(leases, self.domain, self.worker_id, self.settings.lease_seconds)
                found = (leases, members)
            self._stores[database_name] = found
        if found[1] is not None and found[1] is not self.membership:
            found[1].heartbeat()  # (renews only when a third of the lease has passed)
        return found

    def _same_database(self, database_name: str) -> bool:
        """Whether ``database_name`` names the database of the relay's own leases under another
        name (the same server and database: one lease table, one member lease per worker)."""
        engine = getattr(self.domain.providers.database(database_name), "engine", None)
        own = getattr(self.domain.providers.database(self.leases.database_name), "engine", None)
        if engine is None or own is None or getattr(engine, "is_memory", True):
            return False
        return bool(getattr(engine, "key", None) == getattr(own, "key", ()))

    def _share(self, membership: Membership | None) -> int:
        live = membership.count() if membership is not None else 1
        return min(self.shards, math.ceil(self.shards / max(1, live)))

    def _lead(self, database_name: str, outbox: Any) -> dict[int, Lease]:
        """The shards of ``database_name``'s outbox this worker relays: renewed, up to its share."""
        leases, membership = self.lease_store(database_name)
        seconds = self.settings.lease_seconds
        owned = self._owned.setdefault(database_name, {})
        changed = False
        due = {lease.id: shard for shard, lease in owned.items() if lease.remaining() <= seconds * 2 / 3}
        if due:
            for lost in leases.renew_many([owned[shard] for shard in due.values()], seconds):
                log.warning("relay of %s: lost shard %s to another worker", database_name, due[lost.id])
                del owned[due[lost.id]]
                changed = True
        now = time.monotonic()
        freed = bell(OUTBOX).last_ring(FREED)  # (read before the look: a later ring is not lost)
        if freed > self._freed_seen.get(database_name, 0):
            # shards given back, or a worker gone: look now, counting the workers again
            self._freed_seen[database_name] = freed
            self._next_acquire[database_name] = now
            if membership is not None:
                membership.recount()
        if now >= self._next_acquire.get(database_name, 0.0):
            # one at work looks each second; one without shards every poll interval. Not at
            # every tick: a relay without shards is woken by every commit with outbox rows, of
            # any process (it cannot tell whose shard it wrote), and a look per wake-up was a
            # transaction per command for each such worker
            self._next_acquire[database_name] = now + (min(1.0, seconds / 4) if owned else self._look_seconds)
            share = self._share(membership)
            if len(owned) > share:
                self._drop_prefetch(database_name, outbox)
                # the marks in flight land first: the next owner does not publish those rows again
                self.flush()
                # give back the ones furthest from our preferred start, together
                ranked = sorted(owned, key=lambda s: (s - self._offset) % self.shards)
                self._give_up_shards(database_name, ranked[share:])
                changed = True
            gained = False
            if len(owned) < share:
                # one read of who holds what and one write taking every free one up to the share
                wanted = {
                    self.lease_id(database_name, shard): shard
                    for shard in ((self._offset + step) % self.shards for step in range(self.shards))
                    if shard not in owned
                }
                for taken in leases.acquire_many(list(wanted), "relay", self.worker_id, seconds, share - len(owned)):
                    owned[wanted[taken.id]] = taken
                    self._settling.setdefault(database_name, set()).add(wanted[taken.id])
                    changed = gained = True
            if len(owned) < share:
                self._short.add(database_name)  # shards may free up: no commit will say so
                if gained:
                    # shards free up together (a worker stopping gives all of its back; those
                    # of a dead one expire within a renewal period): having just taken some,
                    # look again at the next tick, not in a second — a shard nobody relays
                    # holds its aggregates' messages back
                    self._next_acquire[database_name] = now
            else:
                self._short.discard(database_name)
        if changed:
            self._drop_prefetch(database_name, outbox)
        return owned

    def _give_up_shards(self, database_name: str, shards: list[int]) -> None:
        """Give back the leases of ``shards`` of ``database_name``'s outbox, in one transaction."""
        owned = self._owned.get(database_name, {})
        given = [lease for shard in shards if (lease := owned.pop(shard, None)) is not None]
        if not given:
            return
        try:
            self.lease_store(database_name)[0].release_many(given)
        except Exception:
            log.exception("relay: giving back %s failed", ", ".join(lease.id for lease in given))
            return
        announce_freed(self.domain, database_name)
        # (our own ring: no reason for this relay to look again)
        self._freed_seen[database_name] = max(self._freed_seen.get(database_name, 0), bell(OUTBOX).last_ring(FREED))

    def _leave_stores(self) -> None:
        """Leave the members of the other databases' lease stores (graceful shutdown)."""
        for name, (_, members) in self._stores.items():
            if members is not None and members is not self.membership:
                members.leave()
                announce_freed(self.domain, name)  # (the shares of that database's relays grow)
        self._stores.clear()
