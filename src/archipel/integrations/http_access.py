"""Protean's HTTP wide event: one ``archipel.access.http`` record per request.

:class:`~archipel.integrations.fastapi.DomainContextMiddleware` wraps each
request it serves in :class:`HttpAccessLog`, which emits::

    access.http_completed  INFO (2xx, 3xx) / WARNING (4xx)
    access.http_failed     ERROR (5xx, or an exception the endpoint raised; with its traceback)

with Protean's fields: ``http_method``, ``http_path``, ``http_status``,
``http_duration_ms``, ``route_name``, ``route_pattern``, ``request_id`` (the
``X-Request-ID`` header, else a new one, echoed on the response),
``correlation_id``, ``commands_dispatched`` (their type strings) and its
count, ``client_ip`` (first ``X-Forwarded-For`` hop, else the peer),
``user_agent`` (256 characters at most), the request and response headers when
``log_request_headers`` / ``log_response_headers`` (masked by the redaction of
``configure_logging``), and what the endpoint bound with
:func:`~archipel.utils.logging.bind_event_context`.

``[logging.http]`` of the request's domain (``enabled``, ``exclude_paths``,
``log_request_headers``, ``log_response_headers``) applies unless the
middleware's arguments of the same meaning say otherwise. Nothing is built
while ``archipel.access.http`` is disabled. A failure
to emit is logged at DEBUG and never reaches the response.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

import structlog

from archipel.utils.access_log import http_access_logger, http_event_extras, http_request
from archipel.utils.globals import current_correlation_id
from archipel.utils.log_filters import LOG_RECORD_RESERVED_ATTRS

__all__ = ["HTTP_FIELDS", "HttpAccessLog"]

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

#: the fields archipel sets; a bound field of the same name is left out
HTTP_FIELDS: frozenset[str] = frozenset(
    {
        "http_method", "http_path", "http_status", "http_duration_ms", "route_name", "route_pattern",
        "request_id", "correlation_id", "commands_dispatched", "commands_dispatched_count", "client_ip",
        "user_agent", "http_request_headers", "http_response_headers", "error_type", "error_message",
    }
)
_FORBIDDEN = HTTP_FIELDS | LOG_RECORD_RESERVED_ATTRS
_ID_MAX = 200
_AGENT_MAX = 256
_debug_log = logging.getLogger(__name__)



class HttpAccessLog:
    """ASGI wrapper emitting the request's wide event (see the module docstring).

    ``domain`` (a callable of the path) gives ``[logging.http]``; the keyword
    arguments, when not None, win over it.
    """

    def __init__(
        self,
        app: ASGIApp,
        domain_for: Callable[[str], Any],
        *,
        enabled: bool | None = None,
        exclude_paths: Iterable[str] | None = None,
        log_request_headers: bool | None = None,
        log_response_headers: bool | None = None,
    ) -> None:
        if isinstance(exclude_paths, str):
            raise TypeError(f"exclude_paths takes a list of paths, e.g. ['/health']; got {exclude_paths!r}")
        self.app = app
        self.domain_for = domain_for
        self.overrides = {
            "enabled": enabled,
            "exclude_paths": frozenset(exclude_paths) if exclude_paths is not None else None,
            "log_request_headers": log_request_headers,
            "log_response_headers": log_response_headers,
        }

    def settings(self, domain: Any) -> dict[str, Any]:
        """The effective ``[logging.http]`` for a request served by ``domain`` (or None)."""
        table = ((getattr(domain, "config", None) or {}).get("logging") or {}).get("http") or {}
        defaults = {"enabled": True, "exclude_paths": (), "log_request_headers": False, "log_response_headers": False}
        found = {
            key: override if override is not None else table.get(key, default)
            for (key, override), default in zip(self.overrides.items(), defaults.values(), strict=True)
        }
        found["exclude_paths"] = frozenset(cast(Iterable[str], found["exclude_paths"]))
        return found

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        settings = self.settings(self.domain_for(path))
        if not settings["enabled"] or path in settings["exclude_paths"] or http_access_logger.disabled:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
        request_id = (headers.get("x-request-id") or "").strip()[:_ID_MAX] or uuid.uuid4().hex
        response: dict[str, Any] = {"status": 500, "headers": {}}

        async def send_with_id(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*(message.get("headers") or []), (b"x-request-id", request_id.encode())]}
                response["status"] = int(message.get("status", 500))
                response["headers"] = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]
                }
                response["started"] = True
            await send(message)

        extras: dict[str, Any] = {}
        token = http_event_extras.set(extras)
        started = time.perf_counter()
        error: Exception | None = None
        try:
            with http_request() as commands:
                await self.app(scope, receive, send_with_id)
        except Exception as exc:
            error = exc
            raise
        finally:
            http_event_extras.reset(token)
            try:
                _emit(scope, headers, settings, response, request_id, commands, extras, error, started)
            except Exception:  # noqa: BLE001 - the access log never breaks the response
                _debug_log.debug("http_wide_event_emission_failed", exc_info=True)


def _emit(
    scope: Scope,
    headers: dict[str, str],
    settings: dict[str, Any],
    response: dict[str, Any],
    request_id: str,
    commands: list[str],
    extras: dict[str, Any],
    error: Exception | None,
    started: float,
) -> None:
    status = 500 if error is not None and not response.get("started") else int(response["status"])
    route = scope.get("route")
    forwarded = headers.get("x-forwarded-for")
    client = scope.get("client")
    client_ip = forwarded.split(",", 1)[0].strip() if forwarded else (client[0] if client else "")
    context = {**structlog.contextvars.get_contextvars(), **extras}
    event = {k: v for k, v in context.items() if k not in _FORBIDDEN}
    event.update(
        http_method=str(scope.get("method", "")),
        http_path=str(scope.get("path", "")),
        http_status=status,
        http_duration_ms=round((time.perf_counter() - started) * 1000, 2),
        route_name=getattr(route, "name", "") or "",
        route_pattern=getattr(route, "path", "") or "",
        request_id=request_id,
        correlation_id=current_correlation_id.get() or "",
        commands_dispatched=list(commands),
        commands_dispatched_count=len(commands),
        client_ip=client_ip or "",
        user_agent=(headers.get("user-agent") or "")[:_AGENT_MAX],
    )
    if settings["log_request_headers"]:
        event["http_request_headers"] = dict(headers)
    if settings["log_response_headers"] and response.get("started"):
        event["http_response_headers"] = dict(response["headers"])
    if error is not None:
        event["error_type"] = type(error).__name__
        event["error_message"] = str(error)[:256]
        http_access_logger.error(
            "access.http_failed", extra=event, exc_info=(type(error), error, error.__traceback__)
        )
    elif status >= 500:
        http_access_logger.error("access.http_failed", extra=event)
    elif status >= 400:
        http_access_logger.warning("access.http_completed", extra=event)
    else:
        http_access_logger.info("access.http_completed", extra=event)
