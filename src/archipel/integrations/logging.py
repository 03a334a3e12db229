"""Protean's ``protean.integrations.logging``: filters and structlog processors that add
correlation ids to log records and mask sensitive fields, under Protean's names.

archipel's own names live in :mod:`archipel.utils.log_filters` (the same objects)::

    from archipel.integrations.logging import ProteanCorrelationFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(ProteanCorrelationFilter())

``Domain.configure_logging()`` (and ``Domain.init()`` when it configures logging)
installs them already; with ``[telemetry] enabled`` it installs the OpenTelemetry ones
too (``OTelTraceContextFilter``, ``protean_otel_processor``: ``trace_id``, ``span_id``,
``trace_flags`` of the current span; archipel's tracing: :mod:`archipel.utils.tracing`).

:func:`log_security_event` and :func:`log_snapshot_event` are Protean's helpers for
WARNING wide events on ``archipel.security`` and ``archipel.snapshot``, with the
correlation ids of the code running now. archipel emits the same events itself where
Protean does (failed invariants, invalid operations and states, validation errors
crossing a command handler, discarded snapshots): :mod:`archipel.utils.wide_events`.
"""

from __future__ import annotations

from typing import Any

from archipel.utils.log_filters import (
    LOG_RECORD_RESERVED_ATTRS,
    CorrelationFilter,
    RedactionFilter,
    TraceContextFilter,
    correlation_ids,
    correlation_processor,
    make_redaction_processor,
    redaction_processor,
    trace_context_processor,
)
from archipel.utils.redaction import DEFAULT_REDACT_KEYS
from archipel.utils.wide_events import SECURITY_LOGGER, SNAPSHOT_LOGGER, emit_wide_event

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "LOG_RECORD_RESERVED_ATTRS",
    "OTelTraceContextFilter",
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
    "protean_otel_processor",
    "protean_redaction_processor",
]

#: Protean's name of :class:`~archipel.utils.log_filters.CorrelationFilter`
ProteanCorrelationFilter = CorrelationFilter
#: Protean's name of :class:`~archipel.utils.log_filters.RedactionFilter`
ProteanRedactionFilter = RedactionFilter
#: Protean's name of :func:`~archipel.utils.log_filters.correlation_processor`
protean_correlation_processor = correlation_processor
#: Protean's name of :class:`~archipel.utils.log_filters.TraceContextFilter`
OTelTraceContextFilter = TraceContextFilter
#: Protean's name of :func:`~archipel.utils.log_filters.trace_context_processor`
protean_otel_processor = trace_context_processor
#: Protean's name of :data:`~archipel.utils.log_filters.redaction_processor`
protean_redaction_processor = redaction_processor

SECURITY_EVENT_INVARIANT_FAILED = "invariant_failed"
SECURITY_EVENT_VALIDATION_FAILED = "validation_failed"
SECURITY_EVENT_INVALID_OPERATION = "invalid_operation"
SECURITY_EVENT_INVALID_STATE = "invalid_state"
SNAPSHOT_EVENT_DISCARDED = "snapshot_discarded"



def log_security_event(event_type: str, **fields: Any) -> None:
    """A WARNING ``event_type`` on ``archipel.security`` with ``fields`` (those named like a
    ``LogRecord`` attribute are left out) and the correlation ids of the code running now."""
    emit_wide_event(SECURITY_LOGGER, event_type, fields, correlation_ids())


def log_snapshot_event(event_type: str, **fields: Any) -> None:
    """A WARNING ``event_type`` on ``archipel.snapshot``, as :func:`log_security_event`."""
    emit_wide_event(SNAPSHOT_LOGGER, event_type, fields, correlation_ids())
