"""The observatory web app: a static dashboard, a JSON API and a live SSE stream.

``create_app(domains)`` returns a Starlette application:

- ``GET /``: the dashboard (``static/index.html`` + vanilla JS, no build step)
- ``GET /api/health``: ``{"status": "ok", "domains": [...]}``
- ``GET /api/domains``: one summary per domain (elements, processing, outbox,
  dead letters, subscriptions with health)
- ``GET /api/domains/{name}``: one summary
- ``GET /api/domains/{name}/events?after=N&limit=M``: messages after global
  position ``N`` (without ``after``: the latest ``M``)
- ``GET /api/domains/{name}/subscriptions``
- ``GET /stream``: Server-Sent Events: ``hello`` (summaries and recent events),
  then every second ``events`` (new messages per domain) and ``status``.

Only the dashboard's own host names are answered (DNS rebinding), and
state-changing requests must not come from another site
(:mod:`archipel.observatory.guard`).

The stream is bounded (``max_stream_seconds``; browsers reconnect on their
own) and stops when the client goes away. Errors are JSON ``{"error": ...}``
and never carry a traceback; the details go to the server log.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"the observatory needs Starlette ({exc}): pip install 'archipel[web]'"
    ) from exc

from archipel.domain.domain import Domain
from archipel.observatory.collect import DomainWatch
from archipel.observatory.guard import HostGuard

__all__ = ["create_app"]

log = logging.getLogger("archipel.observatory")

STATIC = Path(__file__).resolve().parent / "static"
_RECENT = 50
_MAX_LIMIT = 500
_PER_TICK = 200  # new messages sent per domain per tick; the rest follow next tick
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
}


class _JSON(JSONResponse):
    """JSON that tolerates dates, decimals and UUIDs in event data."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str, ensure_ascii=False, separators=(",", ":")).encode()


def _error(status: int, message: str, **extra: Any) -> _JSON:
    return _JSON({"error": message, **extra}, status_code=status)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"query parameter {name!r} must be an integer, got {raw!r}") from None
    return max(low, min(high, value))


def _sse(event: str, data: Any) -> str:
    payload = json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n"


class _Observatory:
    """The endpoints, over one :class:`DomainWatch` per domain."""

    def __init__(self, domains: Sequence[Domain], interval: float, max_stream_seconds: float) -> None:
        self.watches = [DomainWatch(domain) for domain in domains]
        self.interval = interval
        self.max_ticks = max(1, math.ceil(max_stream_seconds / interval))

    def watch(self, name: str) -> DomainWatch:
        key = name.lower()
        for watch in self.watches:
            if key in (watch.name.lower(), watch.slug):
                return watch
        raise HTTPException(404, f"unknown domain {name!r}")

    async def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        # adapters are synchronous (and may block on I/O): keep them off the event loop
        try:
            return await anyio.to_thread.run_sync(fn)
        except HTTPException:
            raise
        except Exception as exc:
            log.exception("observatory: %s failed", what)
            raise HTTPException(503, f"could not read {what} ({type(exc).__name__})") from None

    # -- pages ------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_SECURITY_HEADERS)

    # -- JSON API ---------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return _JSON({"status": "ok", "domains": [w.name for w in self.watches]})

    async def domains(self, request: Request) -> Response:
        summaries = await self._call("the domains", lambda: [w.summary() for w in self.watches])
        return _JSON({"domains": summaries})

    async def domain(self, request: Request) -> Response:
        watch = self.watch(request.path_params["name"])
        return _JSON(await self._call(f"domain {watch.name}", watch.summary))

    async def events(self, request: Request) -> Response:
        watch = self.watch(request.path_params["name"])
        limit = _int_param(request, "limit", _RECENT, 1, _MAX_LIMIT)
        if request.query_params.get("after", "") == "":
            found = await self._call(
                f"the events of {watch.name}", lambda: watch.recent_events(limit)
            )
        else:
            after = _int_param(request, "after", 0, 0, 2**62)
            found = await self._call(
                f"the events of {watch.name}", lambda: watch.events_after(after, limit)
            )
        last = found[-1]["position"] if found else watch.last_position
        return _JSON({"domain": watch.name, "events": found, "last_position": last})

    async def subscriptions(self, request: Request) -> Response:
        watch = self.watch(request.path_params["name"])
        rows, source = await self._call(f"the subscriptions of {watch.name}", watch.subscriptions)
        return _JSON({"domain": watch.name, "subscriptions": rows, "source": source})

    # -- live stream -----------------------------------------------------------------
    def _hello(self, cursors: dict[str, int]) -> dict[str, Any]:
        domains = []
        for watch in self.watches:
            recent = watch.recent_events(_RECENT)
            cursors[watch.name] = recent[-1]["position"] if recent else watch.last_position
            domains.append({**watch.summary(), "events": recent})
        return {"domains": domains, "interval": self.interval}

    def _tick(self, cursors: dict[str, int]) -> list[tuple[str, Any]]:
        messages: list[tuple[str, Any]] = []
        for watch in self.watches:
            fresh = watch.events_after(cursors.get(watch.name, 0), _PER_TICK)
            if fresh:
                cursors[watch.name] = fresh[-1]["position"]
                messages.append(("events", {"domain": watch.name, "events": fresh}))
        messages.append(("status", {"domains": [w.summary() for w in self.watches]}))
        return messages

    async def stream(self, request: Request) -> Response:
        ticks = _int_param(request, "ticks", self.max_ticks, 0, self.max_ticks)
        cursors: dict[str, int] = {}

        async def generate() -> AsyncIterator[str]:
            try:
                hello = await anyio.to_thread.run_sync(self._hello, cursors)
                yield "retry: 3000\n\n" + _sse("hello", hello)
                for _ in range(ticks):
                    await anyio.sleep(self.interval)
                    if await request.is_disconnected():
                        return
                    for event, data in await anyio.to_thread.run_sync(self._tick, cursors):
                        yield _sse(event, data)
            except Exception as exc:
                log.exception("observatory: live stream failed")
                yield _sse("failure", {"error": f"the live stream stopped ({type(exc).__name__})"})

        return StreamingResponse(
            generate(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception itself; the client only learns that it happened
    return _error(500, "internal error in the observatory (see its log)")


def create_app(
    domains: Sequence[Domain],
    *,
    interval: float = 1.0,
    max_stream_seconds: float = 3600.0,
    allowed_hosts: Sequence[str] = (),
) -> Starlette:
    """The observatory for ``domains`` (initialised; see the module docstring).

    It answers only to ``127.0.0.1``, ``localhost``, ``::1`` and
    ``allowed_hosts`` (400 otherwise), and refuses cross-site state changes
    (:mod:`archipel.observatory.guard`).
    """
    if not domains:
        raise ValueError("create_app needs at least one domain")
    if interval <= 0:
        raise ValueError("interval must be positive")
    for domain in domains:
        domain.init()
    observatory = _Observatory(domains, interval, max_stream_seconds)
    routes = [
        Route("/", observatory.index),
        Route("/api/health", observatory.health),
        Route("/api/domains", observatory.domains),
        Route("/api/domains/{name}", observatory.domain),
        Route("/api/domains/{name}/events", observatory.events),
        Route("/api/domains/{name}/subscriptions", observatory.subscriptions),
        Route("/stream", observatory.stream),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        middleware=[Middleware(HostGuard, allowed_hosts=list(allowed_hosts))],
    )
    app.state.observatory = observatory
    return app
