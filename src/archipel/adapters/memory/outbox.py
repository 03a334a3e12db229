"""In-memory outbox with leases (same contract as the SQL outboxes)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from archipel.adapters.memory._copy import STORE_LOCK, clone
from archipel.port.outbox import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT, OutboxRow, shard_key

__all__ = ["MemoryOutbox"]


class MemoryOutbox:
    """Rows live in a dict by id; claims scan pending rows in (priority, id) order."""

    def __init__(self) -> None:
        self.rows: dict[int, OutboxRow] = {}
        self._next_id = 1

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        """Append rows (called by a committing transaction, under the store lock)."""
        now = time.time()
        for record in records:
            row = dict(record)
            row.update(
                id=self._next_id,
                shard=shard_key(row["stream"]),
                status=OUTBOX_PENDING,
                attempts=0,
                lease_owner=None,
                lease_until=None,
                created_at=now,
                sent_at=None,
                last_error=None,
            )
            self.rows[self._next_id] = row
            self._next_id += 1

    def add_missing(self, records: Sequence[dict[str, Any]], dry_run: bool = False) -> list[dict[str, Any]]:
        """The ``records`` whose ``(message_id, stream)`` has no row yet, added unless ``dry_run``."""
        with STORE_LOCK:
            there = {(row["message_id"], row["stream"]) for row in self.rows.values()}
            missing = [r for r in records if (r["message_id"], r["stream"]) not in there]
            if missing and not dry_run:
                self.add(missing)
        return missing

    def claim(
        self,
        worker: str,
        limit: int = 100,
        lease_seconds: float = 30.0,
        shards: Sequence[int] | None = None,
        of: int = 1,
        exclude_prefix: str | None = None,
    ) -> list[OutboxRow]:
        now = time.time()
        wanted = set(shards) if shards is not None and of > 1 else None
        with STORE_LOCK:
            available = [
                row
                for row in self.rows.values()
                if row["status"] == OUTBOX_PENDING
                and (row["lease_until"] is None or row["lease_until"] < now)
                and (wanted is None or row["shard"] % of in wanted)
                and not (exclude_prefix and row["stream"].startswith(exclude_prefix))
            ]
            available.sort(key=lambda r: (-(r.get("priority") or 0), r["id"]))
            claimed = []
            for row in available[:limit]:
                row["lease_owner"] = worker
                row["lease_until"] = now + lease_seconds
                row["attempts"] += 1
                claimed.append(clone(row))
            return claimed

    def held_elsewhere(self, worker: str, shards: Sequence[int] | None = None, of: int = 1) -> int:
        now = time.time()
        wanted = set(shards) if shards is not None and of > 1 else None
        with STORE_LOCK:
            return sum(
                1
                for row in self.rows.values()
                if row["status"] == OUTBOX_PENDING
                and row["lease_owner"] not in (None, worker)
                and row["lease_until"] is not None
                and row["lease_until"] >= now
                and (wanted is None or row["shard"] % of in wanted)
            )

    def mark_sent(self, ids: Sequence[int], worker: str) -> int:
        now = time.time()
        done = 0
        with STORE_LOCK:
            for row_id in ids:
                row = self.rows.get(row_id)
                if row is None or row["status"] != OUTBOX_PENDING or row["lease_owner"] != worker:
                    continue
                if row["lease_until"] is not None and row["lease_until"] < now:
                    continue  # lease expired: someone else may own it now
                row.update(status=OUTBOX_SENT, sent_at=now, lease_owner=None, lease_until=None)
                done += 1
        return done

    def release(self, ids: Sequence[int], worker: str, error: str | None = None, failed: bool = False) -> int:
        done = 0
        with STORE_LOCK:
            for row_id in ids:
                row = self.rows.get(row_id)
                if row is None or row["lease_owner"] != worker or row["status"] != OUTBOX_PENDING:
                    continue
                row.update(
                    lease_owner=None,
                    lease_until=None,
                    last_error=error,
                    status=OUTBOX_FAILED if failed else OUTBOX_PENDING,
                )
                done += 1
        return done

    def release_all(self, worker: str) -> int:
        done = 0
        with STORE_LOCK:
            for row in self.rows.values():
                if row["status"] == OUTBOX_PENDING and row["lease_owner"] == worker:
                    row.update(lease_owner=None, lease_until=None)
                    done += 1
        return done

    def pending_count(self) -> int:
        return sum(1 for row in self.rows.values() if row["status"] == OUTBOX_PENDING)

    def purge_sent(self, older_than_seconds: float = 0.0) -> int:
        cutoff = time.time() - older_than_seconds
        with STORE_LOCK:
            doomed = [
                i for i, r in self.rows.items() if r["status"] == OUTBOX_SENT and (r["sent_at"] or 0) <= cutoff
            ]
            for row_id in doomed:
                del self.rows[row_id]
        return len(doomed)

    def clear(self) -> None:
        with STORE_LOCK:
            self.rows.clear()
