"""Protean's security and snapshot channels: WARNING wide events on ``archipel.security``
and ``archipel.snapshot``.

archipel emits them where Protean 0.18 does, each a WARNING whose message is the event
type and whose fields are record attributes (a JSON formatter prints them as keys):

- ``archipel.security`` ``invariant_failed`` (``aggregate``, ``aggregate_id``,
  ``invariant``, ``stage``: ``"pre"`` or ``"post"``), one per failed invariant of an
  aggregate or entity;
- ``archipel.security`` ``invalid_operation`` / ``invalid_state`` (``detail``: the
  exception's first argument, at most 256 characters), when an
  :class:`~archipel.errors.InvalidOperationError` / :class:`~archipel.errors.InvalidStateError`
  is raised;
- ``archipel.security`` ``validation_failed`` (``command_type``, ``handler``, ``error``),
  when a command handler run by ``domain.process`` fails with a
  :class:`~archipel.errors.ValidationError`;
- ``archipel.snapshot`` ``snapshot_discarded`` (``aggregate``, ``aggregate_id``,
  ``reason``), when a stored snapshot no longer fits the aggregate class (it is replayed
  from its events instead; ``archipel snapshot create`` writes a fresh one).

The security events fire only while a message is being handled (a command, event, query
or projector handler on the stack), as Protean's do: invariants checked in a test, a
fixture or a REPL stay off the channel. Every event carries the ``correlation_id`` and
``causation_id`` of the message being handled. Nothing is built when the channel's logger
is above WARNING. Only the standard library and :mod:`archipel.utils.scope`: ``core``
and ``errors`` may use it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from archipel.utils.scope import MESSAGE, scope

__all__ = [
    "LOG_RECORD_RESERVED_ATTRS",
    "SECURITY_LOGGER",
    "SNAPSHOT_LOGGER",
    "emit_wide_event",
    "exception_detail",
    "message_ids",
    "security_event",
]

#: the attributes of every ``LogRecord``: never masked, never overwritten by fields
LOG_RECORD_RESERVED_ATTRS: frozenset[str] = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}

#: the ``archipel.security`` channel
SECURITY_LOGGER = logging.getLogger("archipel.security")
#: the ``archipel.snapshot`` channel
SNAPSHOT_LOGGER = logging.getLogger("archipel.snapshot")

_DETAIL_MAX = 256


def message_ids(message: Any) -> tuple[str, str] | None:
    """``(correlation_id, causation_id)`` of ``message`` (a domain message or a
    subscriber's raw payload), or None when it carries no metadata."""
    meta = getattr(message, "_metadata", None)
    if meta is None and isinstance(message, Mapping):
        meta = message.get("metadata")
    if isinstance(meta, Mapping):
        return (str(meta.get("correlation_id") or ""), str(meta.get("causation_id") or ""))
    if meta is not None:
        return (
            str(getattr(meta, "correlation_id", None) or ""),
            str(getattr(meta, "causation_id", None) or ""),
        )
    return None


def emit_wide_event(
    logger: logging.Logger, event_type: str, fields: Mapping[str, Any], ids: tuple[str, str]
) -> None:
    """A WARNING ``event_type`` on ``logger`` with ``fields`` as record attributes (those
    named like a ``LogRecord`` attribute are left out) and ``ids`` as ``correlation_id``
    and ``causation_id`` unless ``fields`` name them."""
    extra = {k: v for k, v in fields.items() if k not in LOG_RECORD_RESERVED_ATTRS}
    extra.setdefault("correlation_id", ids[0])
    extra.setdefault("causation_id", ids[1])
    logger.warning(event_type, extra=extra)


def security_event(event_type: str, **fields: Any) -> None:
    """A WARNING ``event_type`` on ``archipel.security``, only while a message is being
    handled (see the module docstring)."""
    message = scope.get()[MESSAGE]
    if message is None or not SECURITY_LOGGER.isEnabledFor(logging.WARNING):
        return
    emit_wide_event(SECURITY_LOGGER, event_type, fields, message_ids(message) or ("", ""))


def exception_detail(args: tuple[Any, ...]) -> str:
    """The ``detail`` field of an exception's security event: its first argument, cut."""
    return str(args[0])[:_DETAIL_MAX] if args else ""
