"""Which message was running alone when its worker died: marks that outlive the process.

After a takeover, the entries an earlier owner read and never acknowledged
run one at a time (:mod:`archipel.engine.takeover_run`).
Before one runs, a *mark* — a row of the lease table,
``<domain>/running/<subscription>/<message id>`` — records which worker runs
it; the mark is deleted once the entry is handled. A mark the next worker
finds still set means the worker running that entry died: the count of such
deaths is kept in the row (its ``token``) from one death to the next.

This attributes a death to the one message that was running, whichever
worker processes take over which partitions; the delivery counts of the
broker cannot, since every entry buffered by a dead worker counts one more
delivery, run or not.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from archipel.errors import ExpectedVersionError, LeaseLostError

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.engine.leases import LeaseStore

__all__ = ["CrashMarks"]

#: a mark never expires by time: only a worker running the entry again reads it
_FOREVER = 10 * 365 * 24 * 3600.0


class CrashMarks:
    """Marks of one subscription, written by one worker."""

    def __init__(self, leases: LeaseStore, domain: Domain, subscription: str, worker_id: str) -> None:
        self.leases = leases
        self.worker_id = worker_id
        self.scope = f"{domain.snake_name}/running"
        self.prefix = f"{self.scope}/{subscription}"

    def _id(self, message_id: str) -> str:
        return f"{self.prefix}/{message_id}"

    def begin(self, message_id: str) -> int:
        """Mark ``message_id`` as running here; return how many workers died running it before."""
        leases = self.leases
        tx = leases.database.begin()
        try:
            found = tx.get(leases.schema, self._id(message_id))
            deaths = int(found.get("token") or 0) if found is not None else 0
            if found is not None and found.get("owner") not in (None, self.worker_id):
                deaths += 1  # another worker ran it and never finished: that worker died
            expected = int(found["_version"]) if found is not None else -1
            record = {
                "id": self._id(message_id),
                "scope": self.scope,
                "owner": self.worker_id,
                "expires_at": time.time() + _FOREVER,
                "token": deaths,
            }
            tx.save(leases.schema, record, expected)
            tx.commit()
        except ExpectedVersionError as exc:
            tx.rollback()
            raise LeaseLostError(f"another worker runs message {message_id} too") from exc
        except BaseException:
            tx.rollback()
            raise
        return deaths

    def end(self, message_id: str) -> None:
        """The entry was handled (or dead-lettered): forget its mark."""
        tx = self.leases.database.begin()
        try:
            tx.delete(self.leases.schema, self._id(message_id))
            tx.commit()
        except BaseException:
            tx.rollback()
            raise
