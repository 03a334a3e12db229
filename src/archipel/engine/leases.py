"""Leases with fencing, stored in the domain's default database (or another of its databases).

A lease row says who owns something (an ordering partition of a
subscription, the outbox relay of a database) until when. Every change is
an optimistic write (``expected_version``), so two workers can never both
win a lease. The *fence* is the same write done inside the transaction
that commits a batch of handler effects: if another worker took the lease
over in the meantime — because this one was paused (SIGSTOP, a long GC, a
network partition) past its lease — the version no longer matches and the
whole transaction fails, so a worker that lost its lease cannot commit.
Fencing also renews the lease: a busy worker never has to heartbeat.

A worker that takes, renews or gives back several leases at once (the relay
shards it should hold) does so in one transaction (:meth:`LeaseStore.acquire_many`,
:meth:`~LeaseStore.renew_many`, :meth:`~LeaseStore.release_many`): one read and one
commit, instead of one transaction per lease, between which another worker could
take or relay some of them.

Clocks: expiry uses wall-clock time, so machines sharing leases must agree
on time to well within ``lease_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archipel.core.queryset import Criteria
from archipel.engine.records import ensure_tables, lease_schema
from archipel.errors import ExpectedVersionError, LeaseLostError
from archipel.utils.query import Q

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["Lease", "LeaseStore"]


@dataclass(slots=True)
class Lease:
    """A lease this worker holds: ``version`` is what the next write must expect."""

    id: str
    scope: str
    owner: str
    version: int
    expires_at: float
    token: int

    def remaining(self, now: float | None = None) -> float:
        """Seconds until it expires (negative when expired)."""
        return self.expires_at - (time.time() if now is None else now)


class LeaseStore:
    """Acquire, renew, fence and release leases of one domain."""

    #: tries of :meth:`acquire_many` in one transaction before it takes the leases one by one
    TOGETHER_TRIES = 3

    def __init__(self, domain: Domain, database_name: str = "default") -> None:
        ensure_tables(domain, database_name)
        self.domain = domain
        self.schema = lease_schema(domain)
        #: the database holding the leases: workers share them only if they reach it
        self.database_name = database_name
        self.database = domain.providers.database(database_name)

    def _record(self, lease_id: str, scope: str, owner: str | None, expires_at: float, token: int) -> dict[str, Any]:
        return {"id": lease_id, "scope": scope, "owner": owner, "expires_at": expires_at, "token": token}

    @staticmethod
    def _takeable(found: dict[str, Any] | None, owner: str, now: float) -> tuple[int, int] | None:
        """``(expected version, token)`` of a write taking the stored lease ``found`` for
        ``owner``; ``None`` while another owner holds it."""
        if found is None:
            return -1, 1
        if found.get("owner") in (None, owner) or (found.get("expires_at") or 0) <= now:
            return int(found["_version"]), int(found.get("token") or 0) + (found.get("owner") != owner)
        return None

    def acquire(self, lease_id: str, scope: str, owner: str, seconds: float) -> Lease | None:
        """Take the lease if it is free, expired or already ours; ``None`` if someone holds it."""
        now = time.time()
        tx = self.database.begin()
        try:
            takeable = self._takeable(tx.get(self.schema, lease_id), owner, now)
            if takeable is None:
                tx.rollback()
                return None
            expected, token = takeable
            expires = now + seconds
            tx.save(self.schema, self._record(lease_id, scope, owner, expires, token), expected)
            tx.commit()
        except ExpectedVersionError:
            tx.rollback()
            return None  # someone else got there first
        except BaseException:
            tx.rollback()
            raise
        return Lease(lease_id, scope, owner, expected + 1, expires, token)

    def acquire_many(
        self, lease_ids: Sequence[str], scope: str, owner: str, seconds: float, limit: int
    ) -> list[Lease]:
        """Take up to ``limit`` of the leases ``lease_ids`` of ``scope`` (in that order) that are
        free, expired or already ``owner``'s, together: one read of the scope's leases and,
        when some can be taken, one transaction writing them all. Another worker writing one
        of them meanwhile fails the whole write: it then reads again and tries what is still
        takeable, and after :attr:`TOGETHER_TRIES` such races takes them one by one."""
        if limit <= 0 or not lease_ids:
            return []
        for _ in range(self.TOGETHER_TRIES):
            taken = self._acquire_together(lease_ids, scope, owner, seconds, limit)
            if taken is not None:
                return taken
        held = self.held_by_others(scope, owner)
        taken = []
        for lease_id in lease_ids:
            if len(taken) >= limit:
                break
            if lease_id not in held and (lease := self.acquire(lease_id, scope, owner, seconds)) is not None:
                taken.append(lease)
        return taken

    def _acquire_together(
        self, lease_ids: Sequence[str], scope: str, owner: str, seconds: float, limit: int
    ) -> list[Lease] | None:
        """:meth:`acquire_many` in one transaction; ``None`` when another write raced it."""
        now = time.time()
        tx = self.database.begin()
        try:
            stored = {str(row["id"]): row for row in self._scope_rows(tx, scope)}
            chosen: list[tuple[str, int, int]] = []
            for lease_id in lease_ids:
                if len(chosen) >= limit:
                    break
                takeable = self._takeable(stored.get(lease_id), owner, now)
                if takeable is not None:
                    chosen.append((lease_id, *takeable))
            if not chosen:
                tx.rollback()
                return []
            expires = now + seconds
            for lease_id, expected, token in chosen:
                tx.save(self.schema, self._record(lease_id, scope, owner, expires, token), expected)
            tx.commit()
        except ExpectedVersionError:
            tx.rollback()
            return None
        except BaseException:
            tx.rollback()
            raise
        return [Lease(lease_id, scope, owner, expected + 1, expires, token) for lease_id, expected, token in chosen]

    def fence(self, lease: Lease, tx: Any, seconds: float) -> float:
        """Write the lease into ``tx`` expecting our version; return the new expiry.

        Call :meth:`confirm` after ``tx`` commits. If another worker took the
        lease, the write (or the commit) raises ``ExpectedVersionError``.
        """
        expires = time.time() + seconds
        tx.save(
            self.schema,
            self._record(lease.id, lease.scope, lease.owner, expires, lease.token),
            lease.version,
        )
        return expires

    @staticmethod
    def confirm(lease: Lease, expires_at: float) -> None:
        """Record that a fenced transaction committed."""
        lease.version += 1
        lease.expires_at = expires_at

    def renew(self, lease: Lease, seconds: float) -> None:
        """Extend the lease; :class:`LeaseLostError` if another worker took it over."""
        tx = self.database.begin()
        try:
            expires = self.fence(lease, tx, seconds)
            tx.commit()
        except ExpectedVersionError as exc:
            tx.rollback()
            raise LeaseLostError(f"lease {lease.id} was taken over by another worker") from exc
        except BaseException:
            tx.rollback()
            raise
        self.confirm(lease, expires)

    def renew_many(self, leases: Sequence[Lease], seconds: float) -> list[Lease]:
        """Extend ``leases`` in one transaction; return those another worker took over (when
        one was, the others are renewed one by one, so each is renewed or found lost)."""
        if len(leases) == 1:
            try:
                self.renew(leases[0], seconds)
            except LeaseLostError:
                return [leases[0]]
            return []
        tx = self.database.begin()
        try:
            expiries = [self.fence(lease, tx, seconds) for lease in leases]
            tx.commit()
        except ExpectedVersionError:
            tx.rollback()
            lost = []
            for lease in leases:
                try:
                    self.renew(lease, seconds)
                except LeaseLostError:
                    lost.append(lease)
            return lost
        except BaseException:
            tx.rollback()
            raise
        for lease, expires in zip(leases, expiries, strict=True):
            self.confirm(lease, expires)
        return []

    def still_held(self, lease: Lease) -> bool:
        """Whether the stored lease is still ours at the version we expect."""
        tx = self.database.begin()
        try:
            found = tx.get(self.schema, lease.id)
        finally:
            tx.rollback()
        return (
            found is not None
            and found.get("owner") == lease.owner
            and int(found["_version"]) == lease.version
        )

    def release(self, lease: Lease) -> bool:
        """Give the lease up at once (others need not wait for it to expire)."""
        tx = self.database.begin()
        try:
            tx.save(self.schema, self._record(lease.id, lease.scope, None, 0.0, lease.token), lease.version)
            tx.commit()
        except ExpectedVersionError:
            tx.rollback()
            return False
        except BaseException:
            tx.rollback()
            raise
        lease.version += 1
        lease.expires_at = 0.0
        return True

    def release_many(self, leases: Sequence[Lease]) -> None:
        """Give ``leases`` up at once, in one transaction (when one of them was taken over
        meanwhile, the others one by one)."""
        if len(leases) == 1:
            self.release(leases[0])
            return
        if not leases:
            return
        tx = self.database.begin()
        try:
            for lease in leases:
                tx.save(self.schema, self._record(lease.id, lease.scope, None, 0.0, lease.token), lease.version)
            tx.commit()
        except ExpectedVersionError:
            tx.rollback()
            for lease in leases:
                self.release(lease)
            return
        except BaseException:
            tx.rollback()
            raise
        for lease in leases:
            lease.version += 1
            lease.expires_at = 0.0

    def _scope_rows(self, tx: Any, scope: str) -> list[dict[str, Any]]:
        """Every stored lease of ``scope``, read in ``tx`` (one read)."""
        rows, _ = tx.query(self.schema, Criteria(Q(scope=scope)))
        return list(rows)

    def live(self, scope: str) -> list[dict[str, Any]]:
        """Unexpired, owned leases of ``scope``."""
        now = time.time()
        tx = self.database.begin()
        try:
            rows = self._scope_rows(tx, scope)
        finally:
            tx.rollback()
        return [r for r in rows if r.get("owner") and (r.get("expires_at") or 0) > now]

    def held_by_others(self, scope: str, owner: str) -> set[str]:
        """Ids of the unexpired leases of ``scope`` that another owner holds (one read).

        A worker short of its share looks once, then tries only the others: trying
        each lease in turn was a transaction per lease and look, most of them for
        nothing (every shard or partition held), at every tick of every worker
        short of its share.
        """
        return {str(r["id"]) for r in self.live(scope) if r.get("owner") != owner}
