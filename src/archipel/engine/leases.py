"""Leases with fencing, stored in the domain's default database.

A lease row says who owns something (an ordering partition of a
subscription, the outbox relay of a database) until when. Every change is
an optimistic write (``expected_version``), so two workers can never both
win a lease. The *fence* is the same write done inside the transaction
that commits a batch of handler effects: if another worker took the lease
over in the meantime — because this one was paused (SIGSTOP, a long GC, a
network partition) past its lease — the version no longer matches and the
whole transaction fails, so a worker that lost its lease cannot commit.
Fencing also renews the lease: a busy worker never has to heartbeat.

Clocks: expiry uses wall-clock time, so machines sharing leases must agree
on time to well within ``lease_seconds``.
"""

from __future__ import annotations

import time
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

    def __init__(self, domain: Domain) -> None:
        ensure_tables(domain)
        self.domain = domain
        self.schema = lease_schema(domain)
        self.database = domain.providers.database("default")

    def _record(self, lease_id: str, scope: str, owner: str | None, expires_at: float, token: int) -> dict[str, Any]:
        return {"id": lease_id, "scope": scope, "owner": owner, "expires_at": expires_at, "token": token}

    def acquire(self, lease_id: str, scope: str, owner: str, seconds: float) -> Lease | None:
        """Take the lease if it is free, expired or already ours; ``None`` if someone holds it."""
        now = time.time()
        tx = self.database.begin()
        try:
            found = tx.get(self.schema, lease_id)
            if found is None:
                expected, token = -1, 1
            elif found.get("owner") in (None, owner) or (found.get("expires_at") or 0) <= now:
                expected = int(found["_version"])
                token = int(found.get("token") or 0) + (found.get("owner") != owner)
            else:
                tx.rollback()
                return None
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

    def live(self, scope: str) -> list[dict[str, Any]]:
        """Unexpired, owned leases of ``scope``."""
        now = time.time()
        tx = self.database.begin()
        try:
            rows, _ = tx.query(self.schema, Criteria(Q(scope=scope)))
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
