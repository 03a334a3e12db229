"""Protean's ``protean.integrations.logging``: filters and structlog processors that add
correlation ids to log records and mask sensitive fields, under Protean's names.

archipel's own names live in :mod:`archipel.utils.log_filters` (the same objects)::

    from archipel.integrations.logging import ProteanCorrelationFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(ProteanCorrelationFilter())

``Domain.configure_logging()`` (and ``Domain.init()`` when it configures logging)
installs them already. Protean's OpenTelemetry trace filter and processor are not
provided (archipel's tracing: :mod:`archipel.utils.tracing`).

:func:`log_security_event` and :func:`log_snapshot_event` are Protean's helpers for
WARNING wide events on ``archipel.security`` and ``archipel.snapshot``, with the
correlation ids of the message being handled. archipel does not emit them itself
yet (Protean does for failed invariants, validation errors crossing a handler, and
discarded snapshots).
"""

from __future__ import annotations

import logging
from typing import Any

from archipel.utils.log_filters import (
    LOG_RECORD_RESERVED_ATTRS,
    CorrelationFilter,
    RedactionFilter,
    correlation_ids,
    correlation_processor,
    make_redaction_processor,
    redaction_processor,
)
from archipel.utils.redaction import DEFAULT_REDACT_KEYS

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "LOG_RECORD_RESERVED_ATTRS",
    "ProteanCorrelationFilter",
    "ProteanRedactionFilter",
    "SECURITY_EVENT_INVALID_OPERATION",
    "SECURITY_EVENT_INVALID_STATE",
    "SECURITY_EVENT_INVARIANT_FAILED",
    "SECURITY_EVENT_VALIDATION_FAILED",
    "SNAPSHOT_EVENT_DISCARDED",
    "log_security_event",
    "log_snapshot_event",
    "make_redaction_processor",
    "protean_correlation_processor",
    "protean_redaction_processor",
]

#: Protean's name of :class:`~archipel.utils.log_filters.CorrelationFilter`
ProteanCorrelationFilter = CorrelationFilter
#: Protean's name of :class:`~archipel.utils.log_filters.RedactionFilter`
ProteanRedactionFilter = RedactionFilter
#: Protean's name of :func:`~archipel.utils.log_filters.correlation_processor`
protean_correlation_processor = correlation_processor
#: Protean's name of :data:`~archipel.utils.log_filters.redaction_processor`
protean_redaction_processor = redaction_processor

SECURITY_EVENT_INVARIANT_FAILED = "invariant_failed"
SECURITY_EVENT_VALIDATION_FAILED = "validation_failed"
SECURITY_EVENT_INVALID_OPERATION = "invalid_operation"
SECURITY_EVENT_INVALID_STATE = "invalid_state"
SNAPSHOT_EVENT_DISCARDED = "snapshot_discarded"

_security_logger = logging.getLogger("archipel.security")
_snapshot_logger = logging.getLogger("archipel.snapshot")


def _emit(logger: logging.Logger, event_type: str, fields: dict[str, Any]) -> None:
    extra = {k: v for k, v in fields.items() if k not in LOG_RECORD_RESERVED_ATTRS}
    correlation, causation = correlation_ids()
    extra.setdefault("correlation_id", correlation)
    extra.setdefault("causation_id", causation)
    logger.warning(event_type, extra=extra)


def log_security_event(event_type: str, **fields: Any) -> None:
    """A WARNING ``event_type`` on ``archipel.security`` with ``fields`` (those named like a
    ``LogRecord`` attribute are left out) and the correlation ids of the code running now."""
    _emit(_security_logger, event_type, fields)


def log_snapshot_event(event_type: str, **fields: Any) -> None:
    """A WARNING ``event_type`` on ``archipel.snapshot``, as :func:`log_security_event`."""
    _emit(_snapshot_logger, event_type, fields)
