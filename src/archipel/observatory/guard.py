"""Protection of the observatory's actions (replay, purge) against cross-site requests.

An action (any POST) is accepted only when:

- it comes from this machine (the client address is loopback), unless the
  app was created with ``remote_actions=True``;
- its ``Host`` names this machine (``localhost``, a loopback address), unless
  ``remote_actions``: a page on another site that rebinds its DNS name to
  127.0.0.1 still sends its own name;
- its ``Origin``, when the browser sends one, is this very host
  (``Sec-Fetch-Site: cross-site`` is refused as well);
- it carries the session's CSRF token in ``X-CSRF-Token``. The token is
  random per process and served by ``GET /api/session``, which another site
  cannot read (no CORS), and a custom header cannot be sent cross-site
  without a preflight that this app never grants.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request

__all__ = ["ActionGuard", "is_loopback_host"]

TOKEN_HEADER = "x-csrf-token"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or address, without port) is this machine."""
    bare = host.strip().strip("[]").lower()
    if bare == "localhost" or bare.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def _hostname(netloc: str) -> str:
    return urlsplit(f"//{netloc}").hostname or ""


class ActionGuard:
    """Checks one action request (see the module docstring); raises HTTP 403 when refused."""

    def __init__(self, remote_actions: bool = False) -> None:
        self.token = secrets.token_urlsafe(32)
        self.remote_actions = remote_actions

    def check_reader(self, request: Request) -> None:
        """The token is handed out only to requests that could also act."""
        self._check_place(request)

    def _check_place(self, request: Request) -> None:
        if self.remote_actions:
            return
        client = request.client.host if request.client else ""
        if not is_loopback_host(client):
            raise HTTPException(403, "actions are accepted from this machine only")
        host = request.headers.get("host", "")
        if not is_loopback_host(_hostname(host)):
            raise HTTPException(403, f"refused: Host {host!r} is not this machine")

    def check(self, request: Request) -> None:
        """Refuse a request that may come from another site or machine."""
        self._check_place(request)
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise HTTPException(403, "cross-site request refused")
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            raise HTTPException(403, f"cross-site request refused (Origin {origin})")
        sent = request.headers.get(TOKEN_HEADER, "")
        if not sent or not hmac.compare_digest(sent, self.token):
            raise HTTPException(403, "missing or wrong CSRF token (get it from /api/session)")
