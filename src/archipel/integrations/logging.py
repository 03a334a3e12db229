"""Protean's ``protean.integrations.logging``: filters and structlog processors that add
correlation ids to log records and mask sensitive fields, under Protean's names.

archipel's own names live in :mod:`archipel.utils.log_filters` (the same objects)::

    from archipel.integrations.logging import ProteanCorrelationFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(ProteanCorrelationFilter())

``Domain.configure_logging()`` (and ``Domain.init()`` when it configures logging)
installs them already. Protean's OpenTelemetry trace filter and processor are not
provided (archipel's tracing: :mod:`archipel.utils.tracing`).
"""

from __future__ import annotations

from archipel.utils.log_filters import (
    LOG_RECORD_RESERVED_ATTRS,
    CorrelationFilter,
    RedactionFilter,
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
