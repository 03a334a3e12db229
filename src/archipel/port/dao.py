"""The data-access port: one transaction over the records of persisted element classes.

Protean calls its per-entity data-access object ``BaseDAO``; archipel's unit of
work talks to one :class:`Transaction` per database instead (state, outbox
rows and events commit together). ``BaseDAO`` names the same protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from archipel.core.queryset import Criteria
from archipel.port.schema import ModelSchema

__all__ = ["BaseDAO", "OutboxRecord", "Reads", "Transaction"]

OutboxRecord = dict[str, Any]


class Reads(Protocol):
    """The reads of a :class:`Transaction`: a record by identity, a page of records and their count."""

    def get(self, schema: ModelSchema, identity: Any) -> dict[str, Any] | None: ...

    def query(self, schema: ModelSchema, criteria: Criteria) -> tuple[list[dict[str, Any]], int]: ...


class Transaction(Protocol):
    """One database transaction. Writes are visible to reads in the same transaction.

    ``save`` is optimistic: ``expected_version`` -1 inserts (a duplicate
    identity raises ``ExpectedVersionError``), any other value updates only
    when the stored version equals it, else ``ExpectedVersionError``; the
    stored version becomes ``expected_version + 1``.
    """

    def get(self, schema: ModelSchema, identity: Any) -> dict[str, Any] | None: ...

    def query(self, schema: ModelSchema, criteria: Criteria) -> tuple[list[dict[str, Any]], int]: ...

    def save(self, schema: ModelSchema, record: dict[str, Any], expected_version: int) -> None: ...

    def delete(self, schema: ModelSchema, identity: Any) -> bool: ...

    def add_outbox(self, records: Iterable[OutboxRecord]) -> None:
        """Buffer outbox rows, written at the commit. An adapter may set each record's
        ``"shard"`` (:func:`archipel.port.outbox.shard_key` of its ``"stream"``) in place."""
        ...

    def mark_processed(self, subscription: str, message_id: str) -> bool:
        """Record that ``subscription`` handled ``message_id`` in this transaction.

        Returns False (and records nothing) when it was already recorded:
        the caller then rolls back, so a redelivered message has no second effect.
        """
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


#: Protean's name for the data-access port
BaseDAO = Transaction
