"""What the log pipeline adds to and masks in every record: correlation ids, redaction.

Each concern comes twice, as a stdlib :class:`logging.Filter` (for records of
``logging.getLogger(...)``, attached to handlers) and as a structlog processor
(for events of :func:`archipel.utils.logging.get_logger`), as Protean's
``protean.integrations.logging`` has them:

- :class:`CorrelationFilter` / :func:`correlation_processor`: ``correlation_id``
  and ``causation_id`` of the message being handled (:data:`~archipel.utils.globals.current_message`),
  else ``g.correlation_id`` / ``g.causation_id``, else the request's correlation id
  (:data:`~archipel.utils.globals.current_correlation_id`, set by the FastAPI
  middleware); ``""`` when there is none.
- :class:`TraceContextFilter` / :func:`trace_context_processor`: ``trace_id`` (32 hex
  digits), ``span_id`` (16) and ``trace_flags`` (an int) of the OpenTelemetry span
  current now; ``""``, ``""`` and ``0`` without one or without OpenTelemetry
  (Protean's ``OTelTraceContextFilter`` and ``protean_otel_processor``).
  ``Domain.configure_logging()`` installs them when ``[telemetry] enabled``.
- :class:`RedactionFilter` / :func:`make_redaction_processor`: the value of every
  field named in :data:`~archipel.utils.redaction.DEFAULT_REDACT_KEYS` or given,
  at any depth, becomes ``"[REDACTED]"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from archipel.utils import globals as _context
from archipel.utils.redaction import LOG_MASK, SCALAR_TYPES, is_container, mask_keys, redact_keys
from archipel.utils.wide_events import LOG_RECORD_RESERVED_ATTRS, message_ids

__all__ = [
    "LOG_RECORD_RESERVED_ATTRS",
    "CorrelationFilter",
    "RedactionFilter",
    "TraceContextFilter",
    "correlation_ids",
    "correlation_processor",
    "make_redaction_processor",
    "redaction_processor",
    "trace_context",
    "trace_context_processor",
]

Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]


#: what ``ProcessorFormatter`` puts into an event beside its fields
_FORMATTER_META = frozenset({"_record", "_from_structlog"})


def correlation_ids() -> tuple[str, str]:
    """``(correlation_id, causation_id)`` of the code running now (see the module docstring)."""
    message = _context.current_message.get()
    if message is not None:
        ids = message_ids(message)
        if ids is not None:
            return ids
    namespace = _context.g_var.get()
    correlation = getattr(namespace, "correlation_id", None) or ""
    causation = getattr(namespace, "causation_id", None) or ""
    if correlation or causation:
        return (str(correlation), str(causation))
    return (_context.current_correlation_id.get() or "", "")


class CorrelationFilter(logging.Filter):
    """Sets ``record.correlation_id`` and ``record.causation_id`` (never drops a record).

    Ids already on the record (``extra={"correlation_id": ...}``) are kept.
    Attach it to handlers: a filter on a logger does not see records
    propagating from its children.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) and hasattr(record, "causation_id"):
            return True
        correlation, causation = correlation_ids()
        if not getattr(record, "correlation_id", None):
            record.correlation_id = correlation
        if not getattr(record, "causation_id", None):
            record.causation_id = causation
        return True


def correlation_processor(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``correlation_id`` and ``causation_id`` into the event
    (values the call gave are kept; an id that is empty is left out of the line)."""
    ids = correlation_ids()
    for key, value in zip(("correlation_id", "causation_id"), ids, strict=True):
        if not event_dict.get(key):
            if value:
                event_dict[key] = value
            else:
                event_dict.pop(key, None)
    return event_dict


#: OpenTelemetry's current-span reader and id formatters, imported on first use (the
#: ``otel`` extra is optional); None when OpenTelemetry is not installed
_otel: tuple[Callable[[], Any], Callable[[int], str], Callable[[int], str]] | None = None
_otel_loaded = False


def trace_context() -> tuple[str, str, int]:
    """``(trace_id, span_id, trace_flags)`` of the OpenTelemetry span current now, as hex
    strings and an int; ``("", "", 0)`` without a valid span or without OpenTelemetry."""
    global _otel, _otel_loaded
    if not _otel_loaded:
        try:
            from opentelemetry.trace import format_span_id, format_trace_id, get_current_span
        except ImportError:
            _otel = None
        else:
            _otel = (get_current_span, format_trace_id, format_span_id)
        _otel_loaded = True
    if _otel is None:
        return ("", "", 0)
    current, trace_hex, span_hex = _otel
    context = current().get_span_context()
    if not context.is_valid:
        return ("", "", 0)
    return (trace_hex(context.trace_id), span_hex(context.span_id), int(context.trace_flags))


class TraceContextFilter(logging.Filter):
    """Sets ``record.trace_id``, ``record.span_id`` and ``record.trace_flags`` from the
    current OpenTelemetry span (never drops a record; a ``trace_id`` the record already
    carries, ``extra={"trace_id": ...}``, is kept with its span). Attach it to handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "trace_id", None):
            return True
        record.trace_id, record.span_id, record.trace_flags = trace_context()
        return True


def trace_context_processor(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id``, ``span_id`` and ``trace_flags`` of the current
    OpenTelemetry span into the event (``""``, ``""``, ``0`` without one)."""
    event_dict["trace_id"], event_dict["span_id"], event_dict["trace_flags"] = trace_context()
    return event_dict


class RedactionFilter(logging.Filter):
    """Masks record attributes named in ``redact`` or the defaults (never drops a record).

    Attributes every record has (``msg``, ``args``, ...) are left alone; the
    values of other attributes are searched at any depth (see
    :func:`~archipel.utils.redaction.mask_keys`). Add it after
    :class:`CorrelationFilter` (filters run in order).
    """

    def __init__(self, redact: Iterable[str] | None = None) -> None:
        super().__init__()
        self.keys = redact_keys(redact)

    def filter(self, record: logging.LogRecord) -> bool:
        values = record.__dict__
        keys = self.keys
        for name, value in list(values.items()):
            if name in LOG_RECORD_RESERVED_ATTRS:
                continue
            if name.lower() in keys:
                values[name] = LOG_MASK
            elif type(value) not in SCALAR_TYPES and is_container(value):
                values[name] = mask_keys(value, keys)
        return True


_SEARCH_FIELD, _MASK_FIELD, _SKIP_FIELD = range(3)
#: field names whose verdict a processor remembers (beyond, it decides each time)
_VERDICTS_KEPT = 4096


def _field_verdict(name: Any, keys: frozenset[str]) -> int:
    if not isinstance(name, str) or name in _FORMATTER_META:
        return _SKIP_FIELD
    return _MASK_FIELD if name.lower() in keys else _SEARCH_FIELD


def make_redaction_processor(redact: Iterable[str] | None = None) -> Processor:
    """A structlog processor masking the fields named in ``redact`` or the defaults."""
    keys = redact_keys(redact)
    #: what to do with a field, by name (the same few dozen names come with every line):
    #: _MASK_FIELD, _SKIP_FIELD (not a string, or the formatter's own), or _SEARCH_FIELD
    verdicts: dict[Any, int] = {}

    def redaction(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for name, value in list(event_dict.items()):
            verdict = verdicts.get(name)
            if verdict is None:
                verdict = _field_verdict(name, keys)
                if len(verdicts) < _VERDICTS_KEPT:
                    verdicts[name] = verdict
            if verdict == _SEARCH_FIELD:
                if type(value) not in SCALAR_TYPES and is_container(value):
                    event_dict[name] = mask_keys(value, keys)
            elif verdict == _MASK_FIELD:
                event_dict[name] = LOG_MASK
        return event_dict

    redaction.keys = keys  # type: ignore[attr-defined]
    return redaction


#: the processor masking :data:`~archipel.utils.redaction.DEFAULT_REDACT_KEYS` (Protean's
#: ``protean_redaction_processor``)
redaction_processor: Processor = make_redaction_processor()
