"""The outbox port: messages written in the business transaction, relayed later.

Rows are claimed with a lease (``SKIP LOCKED`` on PostgreSQL) so several
relay workers can share the work; ``mark_sent`` only succeeds for the worker
that still holds the lease (fencing: a paused worker whose lease expired and
was taken over cannot mark rows it no longer owns).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Outbox", "OutboxRow", "OUTBOX_PENDING", "OUTBOX_SENT", "OUTBOX_FAILED"]

OUTBOX_PENDING = "pending"
OUTBOX_SENT = "sent"
OUTBOX_FAILED = "failed"

#: keys: id (int, increasing), message_id, stream, type, priority, correlation_id,
#: message ({"metadata", "data"}), status, attempts, lease_owner, lease_until,
#: created_at, sent_at, last_error
OutboxRow = dict[str, Any]


class Outbox(Protocol):
    """Relay-side access to a database's outbox table."""

    def claim(self, worker: str, limit: int = 100, lease_seconds: float = 30.0) -> list[OutboxRow]:
        """Lease up to ``limit`` pending (or lease-expired) rows, oldest first.

        Higher ``priority`` rows are claimed first. Increments ``attempts``.
        """
        ...

    def mark_sent(self, ids: Sequence[int], worker: str) -> int:
        """Mark rows sent if ``worker`` still holds their lease; return how many."""
        ...

    def release(self, ids: Sequence[int], worker: str, error: str | None = None, failed: bool = False) -> int:
        """Give rows back (or mark them failed) with the error; return how many."""
        ...

    def pending_count(self) -> int: ...

    def purge_sent(self, older_than_seconds: float = 0.0) -> int: ...
