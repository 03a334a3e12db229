"""The error every store gives for a write that found another version of its row."""

from __future__ import annotations

from typing import Any

from archipel.errors import ExpectedVersionError

__all__ = ["row_conflict"]


def row_conflict(
    name: str, ident: Any, expected: int, actual: int | None, *, inserting: bool
) -> ExpectedVersionError:
    """The error of an insert (``inserting``) of an existing identity, or of an update of
    ``name`` ``ident`` based on version ``expected`` that found ``actual`` (-1 or None: the
    row is gone)."""
    if inserting:
        message = (
            f"{name} {ident!r} already exists: load it and change it "
            "instead of adding a new one with the same identity"
        )
    else:
        message = (
            f"{name} {ident!r} was changed concurrently (expected version "
            f"{expected}, found {actual}): reload it and retry"
        )
    return ExpectedVersionError(message, stream=str(ident), expected=expected, actual=actual)
