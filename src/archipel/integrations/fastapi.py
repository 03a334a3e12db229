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
  (:data:`ERROR_SHAPE`), never with a stack trace:

  ==========================================  ======  ================="""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from archipel.errors import (
    ArchipelError,
    ExpectedVersionError,
    InvalidOperation,
    InvalidStateError,
    ObjectNotFound,
    ValidationError,
)
from archipel.integrations.health import check_domain, create_health_router, health_router
from archipel.integrations.http_access import HttpAccessLog
from archipel.utils import tracing
from archipel.utils.globals import current_correlation_id, domain_context

__all__ = [
    "CORRELATION_HEADER",
    "CorrelationMiddleware",
    "DomainContextMiddleware",
    "ERROR_SHAPE",
    "check_domain",
    "create_health_router",
    "error_body",
    "register_exception_handlers",
    "error_responses",
    "excluded_paths",
    "health_router",
    "instrument_app",
]

logger = logging.getLogger("archipel.http")

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

#: the request and response header carrying the correlation id
CORRELATION_HEADER = "X-Correlation-ID"
#: what a client may send as a correlation id: printable, no spaces, at most 128 characters
_CORRELATION = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
#: W3C trace context: version-traceid-parentid-flags
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_SCOPE_KEY = "archipel.correlation_id"

#: every error answer is a JSON object of this shape (``errors`` for validation only)
ERROR_SHAPE: dict[str, str] = {
    "error": "a stable code: validation_error, invalid_request, not_found, conflict, "
    "invalid_operation, http_<status>, internal_error, invalid_header",
    "message": "what went wrong, for people",
    "errors": "(validation) field path -> list of messages",
    "correlation_id": "the request's correlation id (also in the X-Correlation-ID header)",
}


def error_body(code: str, message: str, errors: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An error answer in the one shape (:data:`ERROR_SHAPE`), with the current correlation id."""
    body: dict[str, Any] = {"error": code, "message": message}
    if errors is not None:
        body["errors"] = dict(errors)
    correlation = current_correlation_id.get()
    if correlation:
        body["correlation_id"] = correlation
    return body


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


def _json(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(status_code=status, content=body, headers=dict(headers or {}))


def _request_errors(exc: Any) -> dict[str, list[str]]:
    """FastAPI's validation errors as ``{"body.items.0.book_id": ["..."]}`` (no input echoed)."""
    errors: dict[str, list[str]] = {}
    for problem in exc.errors():
        path = ".".join(str(part) for part in problem.get("loc", ())) or "request"
        errors.setdefault(path, []).append(str(problem.get("msg", "is invalid")))
    return errors


def register_exception_handlers(app: Any) -> None:
    """Install handlers answering every error in the one shape (see the module docstring)."""

    async def validation(request: Any, exc: ValidationError) -> Any:
        return _json(400, error_body("validation_error", "the data breaks a rule of the domain", exc.messages))

    async def request_invalid(request: Any, exc: Exception) -> Any:
        return _json(422, error_body("invalid_request", "the request does not match this endpoint",
                                     _request_errors(exc)))

    async def not_found(request: Any, exc: ObjectNotFound) -> Any:
        return _json(404, error_body("not_found", str(exc)))

    async def conflict(request: Any, exc: ExpectedVersionError) -> Any:
        return _json(409, error_body("conflict", str(exc)))

    async def invalid(request: Any, exc: ArchipelError) -> Any:
        return _json(422, error_body("invalid_operation", str(exc)))

    async def http_error(request: Any, exc: Any) -> Any:
        detail = getattr(exc, "detail", None)
        body = error_body(f"http_{exc.status_code}", detail if isinstance(detail, str) else "request refused")
        if detail is not None and not isinstance(detail, str):
            body["detail"] = detail
        return _json(exc.status_code, body, getattr(exc, "headers", None))

    async def internal(request: Any, exc: Exception) -> Any:
        logger.exception("unhandled error while serving %s", getattr(request, "url", "?"))
        return _json(500, error_body("internal_error", "internal server error"))

    from starlette.exceptions import HTTPException

    app.add_exception_handler(ValidationError, validation)
    app.add_exception_handler(ObjectNotFound, not_found)
    app.add_exception_handler(ExpectedVersionError, conflict)
    app.add_exception_handler(InvalidOperation, invalid)
    app.add_exception_handler(InvalidStateError, invalid)
    app.add_exception_handler(ArchipelError, internal)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal)
    try:
        from fastapi.exceptions import RequestValidationError
    except ImportError:  # plain Starlette: no request validation
        return
    app.add_exception_handler(RequestValidationError, request_invalid)


# what each status answered by the handlers above means, for OpenAPI
_ERROR_STATUSES: dict[int, str] = {
    400: "Validation error (`error`: validation_error; `errors` maps each field to its "
    "messages), or a malformed X-Correlation-ID/traceparent (invalid_header)",
    404: "Not found: no element has this identity",
    409: "Conflict: the element changed since it was read (stale version)",
    422: "Invalid operation: the element's current state forbids it (invalid_operation); "
    "or the request does not match the endpoint (invalid_request, `errors` by path)",
}

#: the one error body, as an OpenAPI schema (:data:`ERROR_SHAPE`)
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "correlation_id": {"type": "string"},
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the statuses :func:`register_exception_handlers` answers.

    Pass it to a route so clients (and schema-based testers such as schemathesis)
    see every status the route can return::

        @app.post("/books", status_code=201, responses=error_responses(400, 422))

    With no argument, all of 400, 404, 409 and 422. The bodies have the one
    error shape (:data:`ERROR_SHAPE`). An unknown status is a ValueError
    naming the ones allowed.
    """
    chosen = statuses or tuple(_ERROR_STATUSES)
    unknown = [s for s in chosen if s not in _ERROR_STATUSES]
    if unknown:
        raise ValueError(
            f"no archipel error answers {unknown}; use some of {sorted(_ERROR_STATUSES)}"
        )
    return {
        status: {
            "description": _ERROR_STATUSES[status],
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        }
        for status in chosen
    }


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
