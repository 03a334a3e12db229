"""The observatory web app: pages, a JSON API, live SSE, dead-letter actions, traces.

``create_app(domains)`` returns a Starlette application:

- ``GET /``: the dashboard (``static/index.html`` + vanilla JS, no build step)
- ``GET /api/health``: ``{"status": "ok", "domains": [...]}``
- ``GET /api/session``: ``{"csrf_token", "remote_actions"}`` (see :mod:`.guard`)
- ``GET /api/domains``: one summary per domain (elements, processing, outbox,
  dead letters, subscriptions with health); ``GET /api/domains/{name}``: one
- ``GET /api/domains/{name}/events?after=N&limit=M``: messages after global
  position ``N`` (without ``after``: the latest ``M``)
- ``GET /api/domains/{name}/subscriptions``
- ``GET /api/domains/{name}/deadlines``: process-manager deadlines, counts per
  state (pending, fired, cancelled, failed) per process manager and the next
  due (:mod:`archipel.handling.deadline_status`); also in every summary
- ``GET /api/domains/{name}/history`` and ``GET /api/history``: the last hour
  of samples (:mod:`.history`)
- ``GET /api/domains/{name}/dead-letters?subscription=&type=&error=&group=&limit=``:
  dead letters and their groups; ``GET .../dead-letters/{id}``: one in full
- ``POST .../dead-letters/{id}/replay|purge``, ``POST .../dead-letters/replay|purge``
  (JSON body: the filters of a group, or ``{"all": true}``), guarded by
  :class:`.guard.ActionGuard`
- ``GET /api/trace/{correlation_id}``: the causation tree across domains (:mod:`.trace`)
- ``GET /metrics``: Prometheus gauges of every domain (extra ``metrics``)
- ``GET /stream``: Server-Sent Events: ``hello`` (summaries and recent
  events), then every ``interval`` ``events`` (new messages per domain) and ``status``.

Only the dashboard's own host names are answered (DNS rebinding), and
state-changing requests must not come from another site; the dead-letter
actions also need the session's CSRF token and a loopback client
(:mod:`archipel.observatory.guard`).

JSON is encoded with msgspec; the stream is sse-starlette's. The stream is
bounded (``max_stream_seconds``; browsers reconnect on their own) and stops
when the client goes away. Errors are JSON ``{"error": ...}`` and never carry
a traceback; the details go to the server log.
"""

from __future__ import annotations

import contextlib
import html
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec

try:
    from sse_starlette import EventSourceResponse, ServerSentEvent
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"the observatory needs Starlette and sse-starlette ({exc}): pip install 'archipel[web]'"
    ) from exc

from archipel.domain.domain import Domain
from archipel.observatory import dead_letters
from archipel.observatory.collect import DomainWatch
from archipel.observatory.guard import ActionGuard, HostGuard
from archipel.observatory.history import History
from archipel.observatory.trace import trace_json

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
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
}
_encoder = msgspec.json.Encoder(enc_hook=str)


class _JSON(Response):
    """JSON encoded by msgspec; dates, decimals and UUIDs as text."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


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


def _sse(event: str, data: Any, retry: int | None = None) -> ServerSentEvent:
    return ServerSentEvent(data=_encoder.encode(data).decode(), event=event, retry=retry)


def _index_page(title: str | None) -> str:
    """``static/index.html``, its ``<title>`` and heading set to ``title`` (escaped) when given."""
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    if title is None or not title.strip():
        return page
    text = html.escape(title.strip())
    page = page.replace("<title>archipel observatory</title>", f"<title>{text}</title>", 1)
    return page.replace('<span class="brand-sub">observatory</span>', f'<span class="brand-sub">{text}</span>', 1)


class _Observatory:
    """The endpoints, over one :class:`DomainWatch` per domain."""

    def __init__(
        self,
        domains: Sequence[Domain],
        interval: float,
        max_stream_seconds: float,
        history_interval: float,
        remote_actions: bool,
        title: str | None = None,
    ) -> None:
        self.page = _index_page(title)
        self.watches = [DomainWatch(domain) for domain in domains]
        self.interval = interval
        self.max_ticks = max(1, math.ceil(max_stream_seconds / interval))
        self.history = History(self.watches, interval=history_interval)
        self.guard = ActionGuard(remote_actions)
        self.metrics: Any = None

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
        return HTMLResponse(self.page, headers=_SECURITY_HEADERS)

    # -- JSON API ---------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return _JSON({"status": "ok", "domains": [w.name for w in self.watches]})

    async def session(self, request: Request) -> Response:
        self.guard.check_reader(request)
        return _JSON(
            {"csrf_token": self.guard.token, "remote_actions": self.guard.remote_actions},
            headers={"Cache-Control": "no-store"},
        )

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

    async def deadlines(self, request: Request) -> Response:
        watch = self.watch(request.path_params["name"])
        found = await self._call(f"the deadlines of {watch.name}", watch.deadlines)
        return _JSON({"domain": watch.name, **found})

    async def domain_history(self, request: Request) -> Response:
        watch = self.watch(request.path_params["name"])
        return _JSON(
            {"domain": watch.name, "interval": self.history.interval, "points": self.history.points(watch.name)}
        )

    async def all_history(self, request: Request) -> Response:
        return _JSON(
            {
                "interval": self.history.interval,
                "domains": {w.name: self.history.points(w.name) for w in self.watches},
            }
        )

    async def trace(self, request: Request) -> Response:
        correlation = request.path_params["correlation_id"].strip()
        if not correlation or len(correlation) > 200:
            raise HTTPException(400, "a correlation id is 1 to 200 characters")
        return _JSON(await self._call("the trace", lambda: trace_json(self.watches, correlation)))

    async def metrics_page(self, request: Request) -> Response:
        try:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            from archipel.engine.metrics import domain_registry
        except ImportError:
            raise HTTPException(404, "metrics need prometheus-client: pip install 'archipel[metrics]'") from None
        if self.metrics is None:
            self.metrics = domain_registry([w.domain for w in self.watches])
        registry = self.metrics
        body = await self._call("the metrics", lambda: generate_latest(registry))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    # -- dead letters --------------------------------------------------------------
    async def dead_letter_list(self, request: Request) -> Response:
        watch = self.watch(request.path_params["name"])
        limit = _int_param(request, "limit", 100, 1, _MAX_LIMIT)
        filters = {key: request.query_params.get(key) for key in dead_letters.FILTERS}
        return _JSON(
            await self._call(
                f"the dead letters of {watch.name}",
                lambda: dead_letters.list_json(watch.domain, filters, limit),
            )
        )

    async def dead_letter(self, request: Request) -> Response:
        watch = self.watch(request.path_params["name"])
        letter_id = request.path_params["letter_id"]
        found = await self._call(
            f"a dead letter of {watch.name}", lambda: dead_letters.letter_json(watch.domain, letter_id)
        )
        if found is None:
            raise HTTPException(404, f"no dead letter {letter_id!r} in {watch.name}")
        return _JSON(found)

    async def act_on_one(self, request: Request) -> Response:
        self.guard.check(request)
        watch = self.watch(request.path_params["name"])
        letter_id, action = request.path_params["letter_id"], _action(request)
        done = await self._call(
            f"{action} of a dead letter", lambda: dead_letters.act_on_one(watch.domain, action, letter_id)
        )
        if not done:
            raise HTTPException(404, f"no dead letter {letter_id!r} in {watch.name}")
        log.info("observatory: %s of dead letter %s in %s", action, letter_id, watch.name)
        return _JSON({"domain": watch.name, "action": action, "count": 1})

    async def act_on_group(self, request: Request) -> Response:
        self.guard.check(request)
        watch = self.watch(request.path_params["name"])
        action = _action(request)
        try:
            body = msgspec.json.decode(await request.body()) if await request.body() else {}
        except msgspec.DecodeError:
            raise HTTPException(400, "the body must be JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the body must be a JSON object")
        unknown = set(body) - {*dead_letters.FILTERS, "all"}
        if unknown:
            raise HTTPException(400, f"unknown keys {sorted(unknown)}; allowed: {[*dead_letters.FILTERS, 'all']}")
        filters = {key: (str(body[key]) if body.get(key) else None) for key in dead_letters.FILTERS}
        if not any(filters.values()) and body.get("all") is not True:
            raise HTTPException(400, 'name a group (subscription, type, error, group) or send {"all": true}')
        count = await self._call(
            f"{action} of dead letters", lambda: dead_letters.act_on_group(watch.domain, action, filters)
        )
        log.info("observatory: %s of %d dead letter(s) in %s (%s)", action, count, watch.name, filters)
        return _JSON({"domain": watch.name, "action": action, "count": count})

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

        async def generate() -> AsyncIterator[ServerSentEvent]:
            try:
                hello = await anyio.to_thread.run_sync(self._hello, cursors)
                yield _sse("hello", hello, retry=3000)
                for _ in range(ticks):
                    await anyio.sleep(self.interval)
                    if await request.is_disconnected():
                        return
                    for event, data in await anyio.to_thread.run_sync(self._tick, cursors):
                        yield _sse(event, data)
            except Exception as exc:
                log.exception("observatory: live stream failed")
                yield _sse("failure", {"error": f"the live stream stopped ({type(exc).__name__})"})

        return EventSourceResponse(
            generate(),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            ping=15,
            sep="\n",
        )


def _action(request: Request) -> str:
    action = str(request.path_params["action"])
    if action not in ("replay", "purge"):
        raise HTTPException(404, f"unknown action {action!r}: replay or purge")
    return action


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception itself; the client only learns that it happened
    return _error(500, "internal error in the observatory (see its log)")


def _routes(o: _Observatory) -> list[Any]:
    letters = "/api/domains/{name}/dead-letters"
    return [
        Route("/", o.index),
        Route("/api/health", o.health),
        Route("/api/session", o.session),
        Route("/api/domains", o.domains),
        Route("/api/domains/{name}", o.domain),
        Route("/api/domains/{name}/events", o.events),
        Route("/api/domains/{name}/subscriptions", o.subscriptions),
        Route("/api/domains/{name}/deadlines", o.deadlines),
        Route("/api/domains/{name}/history", o.domain_history),
        Route("/api/history", o.all_history),
        Route(letters, o.dead_letter_list),
        Route(letters + "/{action:str}", o.act_on_group, methods=["POST"]),
        Route(letters + "/{letter_id:str}", o.dead_letter),
        Route(letters + "/{letter_id:str}/{action:str}", o.act_on_one, methods=["POST"]),
        Route("/api/trace/{correlation_id:str}", o.trace),
        Route("/metrics", o.metrics_page),
        Route("/stream", o.stream),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(
    domains: Sequence[Domain],
    *,
    interval: float = 1.0,
    max_stream_seconds: float = 3600.0,
    history_interval: float = 10.0,
    remote_actions: bool = False,
    allowed_hosts: Sequence[str] = (),
    title: str | None = None,
) -> Starlette:
    """The observatory for ``domains`` (initialised; see the module docstring).

    It answers only to ``127.0.0.1``, ``localhost``, ``::1`` and
    ``allowed_hosts`` (400 otherwise), and refuses cross-site state changes
    (:mod:`archipel.observatory.guard`).
    ``history_interval``: seconds between history samples (an hour is kept).
    ``remote_actions``: accept replay/purge from other machines (still with
    the CSRF token and the Host/Origin checks); off by default.
    ``title``: the page's title and heading (Protean's ``--title``), shown as text.
    """
    if not domains:
        raise ValueError("create_app needs at least one domain")
    if interval <= 0 or history_interval <= 0:
        raise ValueError("interval and history_interval must be positive")
    for domain in domains:
        domain.init()
    observatory = _Observatory(
        domains, interval, max_stream_seconds, history_interval, remote_actions, title
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        sampler = threading.Thread(
            target=observatory.history.run, args=(stop,), name="archipel-observatory-history", daemon=True
        )
        sampler.start()
        try:
            yield
        finally:
            stop.set()
            await anyio.to_thread.run_sync(sampler.join, 5.0)

    app = Starlette(
        routes=_routes(observatory),
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
        middleware=[Middleware(HostGuard, allowed_hosts=list(allowed_hosts))],
    )
    app.state.observatory = observatory
    return app
