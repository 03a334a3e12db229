"""A unit of work's buffered record writes, and the errors a write can meet.

A :class:`PendingWrite` is an ``INSERT`` (``guard == -1``), an ``UPDATE``
guarded by the version the row must still have, or a delete (its record
is :data:`DELETE`). The errors name the aggregate and say what to do.
"""

from __future__ import annotations

from typing import Any

from archipel.adapters.sql.records import RecordTable
from archipel.errors import DuplicateMessageError, ExpectedVersionError
from archipel.port.conflicts import row_conflict

__all__ = [
    "PendingWrite",
    "DELETE",
    "same_insert",
    "unique_violation",
    "conflict",
    "duplicate",
]

#: the record of a buffered delete
DELETE = object()


def unique_violation(exc: BaseException) -> str | None:
    """The constraint (PostgreSQL) or ``table.column`` list (SQLite) a unique violation names."""
    original = getattr(exc, "orig", None) or exc
    state = getattr(original, "sqlstate", None)
    if state == "23505":
        diag = getattr(original, "diag", None)
        return str(getattr(diag, "constraint_name", "") or "")
    if type(original).__name__ == "IntegrityError" and "UNIQUE constraint failed" in str(original):
        return str(original).split("UNIQUE constraint failed:", 1)[1].strip()
    return None


class PendingWrite:
    """One buffered record write: INSERT when ``guard`` is -1, else UPDATE guarded by it."""

    __slots__ = ("table", "identity", "record", "expected", "guard")

    def __init__(
        self, table: RecordTable, identity: Any, record: Any, expected: int, guard: int
    ) -> None:
        self.table = table
        self.identity = identity
        self.record = record
        self.expected = expected
        self.guard = guard


def same_insert(write: Any, first: Any) -> bool:
    """Whether ``write`` is a new row of ``first``'s table (both go in one ``executemany``)."""
    return write.guard == -1 and write.record is not DELETE and write.table is first.table


def duplicate(subscription: str, message_id: str) -> DuplicateMessageError:
    """The error of a message ``subscription`` already handled (a redelivery)."""
    return DuplicateMessageError(
        f"{subscription} already handled message {message_id}: the redelivery is ignored"
    )


def conflict(write: PendingWrite, actual: int | None) -> ExpectedVersionError:
    """The error of an insert of an existing identity, or of an update that found
    another version (``actual``; -1 when the row is gone)."""
    return row_conflict(
        write.table.schema.cls.__name__, write.identity, write.expected, actual, inserting=write.guard == -1
    )
