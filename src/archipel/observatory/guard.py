"""The dashboard's door: only its own host names, and no cross-site writes.

A dashboard on loopback is still reachable from any web page the operator
opens, through *DNS rebinding*: ``evil.example`` resolves to 127.0.0.1 and
the page reads the dashboard as "same origin". The browser still sends
``Host: evil.example``, so :class:`HostGuard` answers 400 to every request
whose ``Host`` is not one of the names the dashboard is served under —
``127.0.0.1``, ``localhost``, ``::1``, plus those given (the address it binds
to when that is not a wildcard, ``--allow-host`` names).

Requests that change state (``POST``, ``PUT``, ``PATCH``, ``DELETE``, and
WebSocket handshakes) must also come from the dashboard's own pages: an
``Origin`` header naming another host — or ``null`` — is 403, and so is a
browser's ``Sec-Fetch-Site: cross-site`` without one. Tools that send
neither (curl, scripts) are not browsers and pass.

Pure ASGI, no dependency besides Starlette's response class; reusable by any
app: ``HostGuard(app, allowed_hosts=["dash.internal"])``.

The dead-letter actions (replay, purge) are guarded once more by
:class:`ActionGuard`: they are accepted from this machine only (the client
address is loopback) unless the app was created with ``remote_actions=True``,
and must carry the session's CSRF token in ``X-CSRF-Token``. The token is
random per process and served by ``GET /api/session``, which another site
cannot read (no CORS; a rebinding page is refused by its Host), and a custom
header cannot be sent cross-site without a preflight this app never grants.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ActionGuard", "HostGuard", "LOOPBACK_NAMES", "host_name", "is_allowed_origin"]

TOKEN_HEADER = "x-csrf-token"

#: names a loopback dashboard always answers to
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
#: methods that may change state: their Origin is checked
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def host_name(value: str) -> str:
    """The host of a ``Host`` header value, lower case, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value  # a bare IPv6 address, or no port


def is_allowed_origin(origin: str, allowed: frozenset[str]) -> bool:
    """Whether an ``Origin`` header value names an http(s) origin on an allowed host."""
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and (parts.hostname or "") in allowed


class HostGuard:
    """ASGI middleware: 400 for a foreign ``Host``, 403 for a cross-site state change."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        extra = {host_name(h) for h in allowed_hosts if h and host_name(h) not in ("", "0.0.0.0", "::")}
        #: every host name accepted (loopback names, then the configured ones)
        self.allowed: frozenset[str] = LOOPBACK_NAMES | frozenset(extra)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = host_name(headers.get("host", ""))
        if host not in self.allowed:
            await self._refuse(scope, receive, send, 400, f"unknown host {host or '(none)'!r}: "
                               "the observatory answers only to the names it is served under")
            return
        if scope["type"] == "websocket" or scope.get("method", "GET") in UNSAFE_METHODS:
            origin = headers.get("origin")
            cross_site = headers.get("sec-fetch-site") == "cross-site"
            if (origin is not None and not is_allowed_origin(origin, self.allowed)) or (
                origin is None and cross_site
            ):
                await self._refuse(scope, receive, send, 403, "cross-site request refused")
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = JSONResponse({"error": message}, status_code=status)
        await response(scope, receive, send)


def _headers(scope: Any) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _is_loopback_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address == "localhost"


class ActionGuard:
    """The dead-letter actions' own check (see the module docstring); raises HTTP 403."""

    def __init__(self, remote_actions: bool = False) -> None:
        self.token = secrets.token_urlsafe(32)
        self.remote_actions = remote_actions

    def check_reader(self, request: Request) -> None:
        """The token is handed out only to requests that could also act."""
        if self.remote_actions:
            return
        client = request.client.host if request.client else ""
        if not _is_loopback_address(client):
            raise HTTPException(403, "actions are accepted from this machine only")

    def check(self, request: Request) -> None:
        """Refuse an action from another machine, or without the session's CSRF token."""
        self.check_reader(request)
        sent = request.headers.get(TOKEN_HEADER, "")
        if not sent or not hmac.compare_digest(sent, self.token):
            raise HTTPException(403, "missing or wrong CSRF token (get it from /api/session)")
