"""FastAPI / Starlette integration.

- :class:`DomainContextMiddleware` activates the domain mapped to the URL
  prefix of each request (``/customers`` -> identity, ...); other paths run
  without a domain context. It also carries the request's correlation id
  (:class:`CorrelationMiddleware`) unless ``correlation=False``.
- :class:`CorrelationMiddleware`: the request's ``X-Correlation-ID`` — or the
  trace id of a W3C ``traceparent`` — becomes the ``correlation_id`` of every
  command and event the request produces (a new one when the client sends
  none), and is echoed on the response as ``X-Correlation-ID`` (with the
  ``traceparent`` given, if any). A malformed header is a 400.
- :func:`health_router` serves ``/health`` (liveness) and ``/ready``
  (database, broker, subscription lag) for orchestrators and load balancers;
  :func:`create_health_router` is Protean's one-domain form (``/healthz``,
  ``/livez``, ``/readyz``). :func:`instrument_app` is Protean's call to trace
  requests (it adds :class:`CorrelationMiddleware` when tracing is on).
- :func:`register_exception_handlers` answers every error with one JSON shape
  (:data:`ERROR_SHAPE`), never with a stack trace.

Protean's submodules hold the code: :mod:`.middleware`, :mod:`.exception_handlers`,
:mod:`.health`, :mod:`.telemetry`; this package gives every name at
``archipel.integrations.fastapi`` too.
"""

from __future__ import annotations

from archipel.integrations.fastapi.exception_handlers import (
    ERROR_SHAPE,
    error_body,
    error_responses,
    register_exception_handlers,
)
from archipel.integrations.fastapi.health import check_domain, create_health_router, health_router
from archipel.integrations.fastapi.middleware import (
    CORRELATION_HEADER,
    CorrelationMiddleware,
    DomainContextMiddleware,
    correlation_from,
)
from archipel.integrations.fastapi.telemetry import excluded_paths, instrument_app

__all__ = [
    "CORRELATION_HEADER",
    "CorrelationMiddleware",
    "DomainContextMiddleware",
    "ERROR_SHAPE",
    "check_domain",
    "correlation_from",
    "create_health_router",
    "error_body",
    "register_exception_handlers",
    "error_responses",
    "excluded_paths",
    "health_router",
    "instrument_app",
]
