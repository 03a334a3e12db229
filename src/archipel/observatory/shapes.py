"""The JSON shapes shared by the observatory's ``/api/...`` and the CLI's ``--json``.

Pure functions over engine rows (no web framework): the same dict for the
same thing, wherever it is shown. Shapes (stable; new keys may be added):

- dead letter: ``{"id", "subscription", "message_id", "type", "stream",
  "attempts", "first_failed_at", "last_failed_at", "error_summary",
  "parked_behind", "group"}``, plus ``"error"`` and ``"payload"`` in full form
- dead-letter group: ``{"group", "subscription", "error_summary", "count"}``
- subscription: ``{"name", "kind", "streams", "lag", "pending", "dlq_depth",
  "active", "health"}``
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "dead_letter_json",
    "error_summary",
    "group_key",
    "groups_json",
    "iso",
    "subscription_json",
]


def iso(value: Any) -> str | None:
    """ISO 8601 for datetimes, the value as text otherwise (None stays None)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def error_summary(error: Any, width: int = 100) -> str:
    """The line of an error that says what happened.

    Stored errors are often whole tracebacks, whose last line is the
    exception (``RuntimeError: ...``): that is what a list should show.
    """
    lines = [line.strip() for line in str(error or "").splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def group_key(subscription: str, error: Any) -> str:
    """Short stable id of the failure group (same subscription, same error line)."""
    text = f"{subscription}\x00{error_summary(error, 10_000)}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def dead_letter_json(letter: Any, full: bool = False) -> dict[str, Any]:
    """One dead letter; ``full`` adds the whole error and the payload."""
    shape: dict[str, Any] = {
        "id": str(letter.id),
        "subscription": letter.subscription,
        "message_id": letter.message_id,
        "type": letter.type,
        "stream": letter.stream,
        "attempts": int(letter.attempts),
        "first_failed_at": iso(letter.first_failed_at),
        "last_failed_at": iso(letter.last_failed_at),
        "error_summary": error_summary(letter.error),
        "parked_behind": getattr(letter, "parked_behind", None),
        "group": group_key(letter.subscription, letter.error),
    }
    if full:
        shape["error"] = letter.error
        shape["payload"] = letter.payload
    return shape


def groups_json(letters: Iterable[Any]) -> list[dict[str, Any]]:
    """Dead letters grouped by subscription and error line, largest group first."""
    groups: dict[str, dict[str, Any]] = {}
    for letter in letters:
        key = group_key(letter.subscription, letter.error)
        group = groups.setdefault(
            key,
            {
                "group": key,
                "subscription": letter.subscription,
                "error_summary": error_summary(letter.error),
                "count": 0,
            },
        )
        group["count"] += 1
    return sorted(groups.values(), key=lambda g: (-g["count"], g["subscription"], g["group"]))


def subscription_json(row: Any, health: str) -> dict[str, Any]:
    """One subscription status row with its health word."""
    return {
        "name": str(row.name),
        "kind": str(row.kind),
        "streams": [str(s) for s in row.streams],
        "lag": row.lag,
        "pending": row.pending,
        "dlq_depth": row.dlq_depth,
        "active": getattr(row, "active", None),
        "health": health,
    }
