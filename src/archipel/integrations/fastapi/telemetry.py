"""Protean's ``protean.integrations.fastapi.telemetry``: :func:`instrument_app` traces a
FastAPI app's requests (archipel's :class:`~archipel.integrations.fastapi.middleware.CorrelationMiddleware`
opens each request's span)."""

from __future__ import annotations

import re
from typing import Any

from archipel.integrations.fastapi.middleware import CorrelationMiddleware, DomainContextMiddleware
from archipel.utils import tracing

__all__ = ["excluded_paths", "instrument_app"]


def excluded_paths(excluded_urls: str | None) -> re.Pattern[str] | None:
    """One pattern for OpenTelemetry's comma-separated ``excluded_urls`` (None: exclude nothing)."""
    parts = [part.strip() for part in (excluded_urls or "").split(",") if part.strip()]
    if not parts:
        return None
    try:
        return re.compile("|".join(f"(?:{part})" for part in parts))
    except re.error as exc:
        raise ValueError(f"excluded_urls {excluded_urls!r} is not a list of regular expressions: {exc}") from exc


def instrument_app(app: Any, domain: Any = None, *, excluded_urls: str | None = None, **kwargs: Any) -> bool:
    """Protean's call to trace a FastAPI app's requests; True when tracing was added.

    archipel's :class:`CorrelationMiddleware` opens the request's span
    (``http.request.method``, ``url.path``, ``http.response.status_code``) as
    the parent of the command and handler spans the request causes. This adds
    it to ``app`` when tracing is on (:func:`archipel.utils.tracing.enable_tracing`);
    with tracing off, or requests already traced (a :class:`CorrelationMiddleware`,
    or a :class:`DomainContextMiddleware` with ``correlation``), it adds nothing
    and returns False, as Protean's does. ``excluded_urls`` (comma-separated
    regular expressions searched in the path, OpenTelemetry's convention) get
    no span but keep their correlation id. ``domain`` is accepted for
    Protean's signature (tracing is process-wide here). Options of
    OpenTelemetry's ``FastAPIInstrumentor`` have no counterpart: passing one
    is a ``TypeError`` naming it.
    """
    if kwargs:
        raise TypeError(
            f"instrument_app() got options archipel does not have: {', '.join(sorted(kwargs))} "
            "(OpenTelemetry's FastAPIInstrumentor options; archipel traces requests itself)"
        )
    skip = excluded_paths(excluded_urls)  # checked even when tracing is off
    if tracing.tracer is None:
        return False
    for added in getattr(app, "user_middleware", []):
        cls, options = getattr(added, "cls", None), getattr(added, "kwargs", {}) or {}
        if cls is CorrelationMiddleware or (
            cls is DomainContextMiddleware and options.get("correlation", True)
        ):
            return False  # requests are traced already
    app.add_middleware(CorrelationMiddleware, excluded=skip)
    return True
