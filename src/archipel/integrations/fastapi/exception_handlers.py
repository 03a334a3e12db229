"""Protean's ``protean.integrations.fastapi.exception_handlers``: every error answered in
one JSON shape (:data:`ERROR_SHAPE`), never with a stack trace
(:func:`register_exception_handlers`), and that shape for OpenAPI (:func:`error_responses`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from archipel.errors import (
    ArchipelError,
    ExpectedVersionError,
    InvalidOperation,
    InvalidStateError,
    ObjectNotFound,
    ValidationError,
)
from archipel.utils.globals import current_correlation_id

__all__ = ["ERROR_SHAPE", "error_body", "error_responses", "register_exception_handlers"]

logger = logging.getLogger("archipel.http")

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
