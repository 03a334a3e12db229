"""Command deadlines: ``domain.process(command, deadline=...)`` or ``timeout=...`` (Protean's).

A command's deadline is an absolute UTC time kept in its metadata headers
(``headers["deadline"]``, ISO 8601), so it travels with the command through
the outbox, the broker and the workers. A ``timeout`` is turned into a
deadline when the command is submitted (``now + timeout``), so time spent
queued counts. Commands sent while a message is handled inherit that
message's deadline unless they are given their own. A command whose deadline
has passed is refused with :class:`~archipel.errors.CommandExpiredError`
before its handler runs.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from archipel.core.message import utcnow
from archipel.errors import CommandExpiredError, IncorrectUsageError

__all__ = ["DEADLINE_HEADER", "deadline_of", "raise_if_expired", "resolve_deadline"]

#: the metadata header holding a command's deadline (ISO 8601, UTC)
DEADLINE_HEADER = "deadline"


def resolve_deadline(
    deadline: _dt.datetime | None, timeout: _dt.timedelta | None, now: _dt.datetime | None = None
) -> _dt.datetime | None:
    """The absolute UTC deadline ``deadline`` or ``timeout`` state (None: neither).

    ``IncorrectUsageError`` for both at once, a ``deadline`` that is not a
    ``datetime``, or a ``timeout`` that is not a ``timedelta``. A naive
    ``deadline`` is read as UTC; ``timeout`` counts from ``now`` (default: now).
    """
    if deadline is not None and timeout is not None:
        raise IncorrectUsageError("process(...) takes either deadline= or timeout=, not both")
    if timeout is not None:
        if not isinstance(timeout, _dt.timedelta):
            raise IncorrectUsageError(
                f"process(timeout=...) takes a datetime.timedelta, got {type(timeout).__name__}"
            )
        return (now or utcnow()) + timeout
    if deadline is not None:
        if not isinstance(deadline, _dt.datetime):
            raise IncorrectUsageError(
                f"process(deadline=...) takes a datetime.datetime, got {type(deadline).__name__}"
            )
        if deadline.tzinfo is None:
            return deadline.replace(tzinfo=_dt.UTC)
        return deadline.astimezone(_dt.UTC)
    return None


def deadline_of(message: Any) -> _dt.datetime | None:
    """The deadline recorded in ``message``'s metadata headers, or None."""
    headers = message._metadata.__dict__.get("_headers")
    if not headers:
        return None
    value = headers.get(DEADLINE_HEADER)
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value
    return _dt.datetime.fromisoformat(str(value))


def raise_if_expired(message: Any, now: _dt.datetime | None = None) -> None:
    """``CommandExpiredError`` (``command_type``, ``deadline``) when ``message``'s deadline has passed."""
    deadline = deadline_of(message)
    if deadline is not None and (now or utcnow()) >= deadline:
        options = getattr(type(message), "_meta", None)
        command_type = (
            message._metadata.type or getattr(options, "type_string", None) or type(message).__name__
        )
        raise CommandExpiredError(
            f"command {command_type} expired at its deadline {deadline.isoformat()}",
            command_type=command_type,
            deadline=deadline,
        )
