"""Protean's ``protean.integrations.fastapi.middleware``: the request's domain and
correlation id (:class:`DomainContextMiddleware`, :class:`CorrelationMiddleware`)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from archipel.integrations.fastapi.exception_handlers import error_body
from archipel.integrations.http_access import HttpAccessLog
from archipel.utils import tracing
from archipel.utils.globals import current_correlation_id, domain_context

__all__ = ["CORRELATION_HEADER", "CorrelationMiddleware", "DomainContextMiddleware", "correlation_from"]

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

#: the request and response header carrying the correlation id
CORRELATION_HEADER = "X-Correlation-ID"
#: what a client may send as a correlation id: printable, no spaces, at most 128 characters
_CORRELATION = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
#: W3C trace context: version-traceid-parentid-flags
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_SCOPE_KEY = "archipel.correlation_id"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return str(value.decode("latin-1")).strip()
    return None


def correlation_from(scope: Scope) -> tuple[str | None, str | None, str | None]:
    """``(correlation id, traceparent to echo, error)`` from a request's headers.

    ``X-Correlation-ID`` wins; else the trace id of a valid ``traceparent``;
    else ``(None, None, None)`` (the caller makes one). A malformed header
    gives an error message instead.
    """
    given = _header(scope, b"x-correlation-id")
    if given is not None:
        if not _CORRELATION.match(given):
            return None, None, f"{CORRELATION_HEADER} must be 1 to 128 letters, digits or ._:@/+=-"
        return given, None, None
    parent = _header(scope, b"traceparent")
    if parent is not None:
        found = _TRACEPARENT.match(parent.lower())
        if not found or found.group(1) == "ff" or set(found.group(2)) == {"0"} or set(found.group(3)) == {"0"}:
            return None, None, "traceparent is not a valid W3C trace context header"
        return found.group(2), parent, None
    return None, None, None


class CorrelationMiddleware:
    """ASGI middleware: one correlation id per request, into its messages and back on its response."""

    def __init__(self, app: ASGIApp, *, excluded: re.Pattern[str] | None = None) -> None:
        self.app = app
        self.excluded = excluded  # paths traced without a span (their correlation id kept)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or _SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return
        correlation, traceparent, problem = correlation_from(scope)
        if problem is not None:
            from starlette.responses import JSONResponse

            response = JSONResponse(error_body("invalid_header", problem), status_code=400)
            await response(scope, receive, send)
            return
        correlation = correlation or str(uuid.uuid4())
        scope[_SCOPE_KEY] = correlation
        echo = [(CORRELATION_HEADER.lower().encode(), correlation.encode())]
        if traceparent is not None:
            echo.append((b"traceparent", traceparent.encode()))

        span: Any = None

        async def send_with_id(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*(message.get("headers") or []), *echo]}
                if span is not None:
                    span.set_attribute("http.response.status_code", int(message.get("status", 0)))
            await send(message)

        token = current_correlation_id.set(correlation)
        try:
            if tracing.tracer is None or (
                self.excluded is not None and self.excluded.search(str(scope.get("path", "")))
            ):
                await self.app(scope, receive, send_with_id)
                return
            carrier = {k: v for k in ("traceparent", "tracestate") if (v := _header(scope, k.encode()))}
            with tracing.request_span(str(scope.get("method", "")), str(scope.get("path", "")), carrier) as span:
                await self.app(scope, receive, send_with_id)
        finally:
            current_correlation_id.reset(token)


class DomainContextMiddleware:
    """ASGI middleware: the longest matching prefix of ``route_domain_map`` wins.

    ``resolver`` (optional) maps a path to a domain for custom schemes; it
    is asked when no prefix matches. ``correlation`` (default on): also act
    as :class:`CorrelationMiddleware`.

    Each request also emits Protean's HTTP wide event on ``archipel.access.http``
    (:mod:`archipel.integrations.http_access`): ``emit_http_wide_event``,
    ``exclude_paths``, ``log_request_headers`` and ``log_response_headers``, when
    given, win over ``[logging.http]`` of the request's domain (else the first
    mapped domain's).
    """

    def __init__(
        self,
        app: ASGIApp,
        route_domain_map: Mapping[str, Any] | None = None,
        resolver: Callable[[str], Any] | None = None,
        correlation: bool = True,
        emit_http_wide_event: bool | None = None,
        exclude_paths: Iterable[str] | None = None,
        log_request_headers: bool | None = None,
        log_response_headers: bool | None = None,
    ) -> None:
        self.app = app
        self.routes = sorted(
            ((prefix.rstrip("/") or "/", domain) for prefix, domain in (route_domain_map or {}).items()),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        self.resolver = resolver
        fallback = next(iter((route_domain_map or {}).values()), None)
        logged = HttpAccessLog(
            self._with_domain,
            lambda path: self.domain_for(path) or fallback,
            enabled=emit_http_wide_event,
            exclude_paths=exclude_paths,
            log_request_headers=log_request_headers,
            log_response_headers=log_response_headers,
        )
        self._inner: ASGIApp = CorrelationMiddleware(logged) if correlation else logged

    def domain_for(self, path: str) -> Any:
        """The domain serving ``path`` (None: no domain context)."""
        for prefix, domain in self.routes:
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                return domain
        return self.resolver(path) if self.resolver is not None else None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self._inner(scope, receive, send)

    async def _with_domain(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        domain = self.domain_for(scope.get("path", ""))
        if domain is None:
            await self.app(scope, receive, send)
            return
        with domain_context(domain):
            await self.app(scope, receive, send)
