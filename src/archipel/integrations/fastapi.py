"""FastAPI / Starlette integration.

- :class:`DomainContextMiddleware` activates the domain mapped to the URL
  prefix of each request (``/customers`` -> identity, ...); other paths run
  without a domain context.
- :func:`register_exception_handlers` maps archipel errors to HTTP answers
  (ValidationError 400, ObjectNotFound 404, ExpectedVersionError 409,
  InvalidOperation/InvalidState 422, anything else 500) with JSON bodies
  that never contain a stack trace.
- :func:`error_responses` documents those answers in OpenAPI
  (``@app.post(..., responses=error_responses(400, 404))``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from archipel.errors import (
    ArchipelError,
    ExpectedVersionError,
    InvalidOperation,
    InvalidStateError,
    ObjectNotFound,
    ValidationError,
)
from archipel.utils.globals import domain_context

__all__ = ["DomainContextMiddleware", "register_exception_handlers", "error_responses"]

logger = logging.getLogger("archipel.http")

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class DomainContextMiddleware:
    """ASGI middleware: the longest matching prefix of ``route_domain_map`` wins.

    ``resolver`` (optional) maps a path to a domain for custom schemes; it
    is asked when no prefix matches.
    """

    def __init__(
        self,
        app: ASGIApp,
        route_domain_map: Mapping[str, Any] | None = None,
        resolver: Callable[[str], Any] | None = None,
    ) -> None:
        self.app = app
        self.routes = sorted(
            ((prefix.rstrip("/") or "/", domain) for prefix, domain in (route_domain_map or {}).items()),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        self.resolver = resolver

    def domain_for(self, path: str) -> Any:
        for prefix, domain in self.routes:
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                return domain
        return self.resolver(path) if self.resolver is not None else None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        domain = self.domain_for(scope.get("path", ""))
        if domain is None:
            await self.app(scope, receive, send)
            return
        with domain_context(domain):
            await self.app(scope, receive, send)


def _json(status: int, body: dict[str, Any]) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(status_code=status, content=body)


def register_exception_handlers(app: Any) -> None:
    """Install handlers that turn archipel errors into JSON responses."""

    async def validation(request: Any, exc: ValidationError) -> Any:
        return _json(400, {"error": "validation_error", "errors": exc.messages})

    async def not_found(request: Any, exc: ObjectNotFound) -> Any:
        return _json(404, {"error": "not_found", "message": str(exc)})

    async def conflict(request: Any, exc: ExpectedVersionError) -> Any:
        return _json(409, {"error": "conflict", "message": str(exc)})

    async def invalid(request: Any, exc: ArchipelError) -> Any:
        return _json(422, {"error": "invalid_operation", "message": str(exc)})

    async def internal(request: Any, exc: Exception) -> Any:
        logger.exception("unhandled error while serving %s", getattr(request, "url", "?"))
        return _json(500, {"error": "internal_error", "message": "internal server error"})

    app.add_exception_handler(ValidationError, validation)
    app.add_exception_handler(ObjectNotFound, not_found)
    app.add_exception_handler(ExpectedVersionError, conflict)
    app.add_exception_handler(InvalidOperation, invalid)
    app.add_exception_handler(InvalidStateError, invalid)
    app.add_exception_handler(ArchipelError, internal)


# what each status answered by the handlers above means, for OpenAPI
_ERROR_STATUSES: dict[int, str] = {
    400: "Validation error: `errors` maps each field to its messages",
    404: "Not found: no element has this identity",
    409: "Conflict: the element changed since it was read (stale version)",
    422: "Invalid operation: the element's current state forbids it; "
    "also FastAPI's own answer to a body that does not match the request schema",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the statuses :func:`register_exception_handlers` answers.

    Pass it to a route so clients (and schema-based testers such as schemathesis)
    see every status the route can return::

        @app.post("/books", status_code=201, responses=error_responses(400, 422))

    With no argument, all of 400, 404, 409 and 422. The bodies are JSON objects
    (``{"error": ..., "errors" | "message": ...}``; FastAPI's own 422 has ``detail``).
    An unknown status is a ValueError naming the ones allowed.
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
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
        for status in chosen
    }
