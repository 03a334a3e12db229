"""Health and readiness checks of domains, for an HTTP app (see :func:`health_router`).

``check_domain(domain, max_lag)`` returns ``{"database", "broker", "subscriptions",
"ready"}``: the default database answers a query (the outbox backlog is read),
the default broker answers (``ping`` or a stream listing), and the
subscriptions' lag (messages not yet delivered plus delivered and not yet
acknowledged) is at most ``max_lag`` (None: reported, never failing).
A failed check says what failed (the exception's class and message, never
a traceback or a connection string).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["check_domain", "create_health_router", "health_router"]

log = logging.getLogger("archipel.http")


def _failed(what: str, exc: Exception) -> dict[str, Any]:
    log.warning("readiness: %s failed: %s", what, exc)
    return {"status": "down", "error": type(exc).__name__}


def _database(domain: Domain) -> dict[str, Any]:
    try:
        outbox = domain.providers.database("default").outbox()
        return {"status": "up", "outbox_backlog": int(outbox.pending_count())}
    except Exception as exc:
        return _failed(f"database of {domain.name}", exc)


def _broker(domain: Domain) -> dict[str, Any]:
    try:
        broker = domain.providers.broker("default")
        ping = getattr(broker, "ping", None)
        if callable(ping):
            if not ping():
                return {"status": "down", "error": "no answer to PING"}
        else:
            broker.streams()
        return {"status": "up"}
    except Exception as exc:
        return _failed(f"broker of {domain.name}", exc)


def _subscriptions(domain: Domain, max_lag: int | None) -> dict[str, Any]:
    from archipel.engine.status import subscription_status

    try:
        rows = subscription_status(domain)
    except Exception as exc:
        return _failed(f"subscriptions of {domain.name}", exc)
    lags = {row.name: (row.lag or 0) + (row.pending or 0) for row in rows}
    worst = max(lags.values(), default=0)
    behind = max_lag is not None and worst > max_lag
    return {
        "status": "behind" if behind else "up",
        "max_lag": worst,
        "allowed_lag": max_lag,
        "lag": lags,
        "dead_letters": sum(row.dlq_depth or 0 for row in rows),
    }


def check_domain(domain: Domain, max_lag: int | None = None) -> dict[str, Any]:
    """The readiness of one initialised domain (see the module docstring)."""
    with domain.domain_context():
        checks: dict[str, Any] = {
            "database": _database(domain),
            "broker": _broker(domain),
            "subscriptions": _subscriptions(domain, max_lag),
        }
    checks["ready"] = all(check["status"] == "up" for check in list(checks.values()))
    return checks


def health_router(domains: Sequence[Domain], *, max_lag: int | None = None, prefix: str = "") -> Any:
    """A FastAPI ``APIRouter`` with ``GET {prefix}/health`` and ``GET {prefix}/ready``.

    ``/health`` (liveness): 200 ``{"status": "ok"}`` while the process serves.
    ``/ready`` (readiness): 200 when every domain's database and broker answer
    and no subscription lags more than ``max_lag`` messages, else 503; the body
    is ``{"status": "ready" | "unavailable", "domains": {name: checks}}``.
    """
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse

    router = APIRouter(prefix=prefix, tags=["health"])
    watched = list(domains)

    @router.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready")
    def ready() -> JSONResponse:
        found = {domain.name: check_domain(domain, max_lag) for domain in watched}
        ok = all(checks["ready"] for checks in found.values())
        return JSONResponse(
            {"status": "ready" if ok else "unavailable", "domains": found},
            status_code=200 if ok else 503,
        )

    return router


def create_health_router(
    domain: Domain, *, prefix: str = "", tags: list[Any] | None = None, max_lag: int | None = None
) -> Any:
    """Protean's health router for one domain: ``/healthz``, ``/livez`` and ``/readyz``.

    ``/healthz`` and ``/livez`` (liveness): 200 ``{"status": "ok", "checks":
    {"application": "running"}}``. ``/readyz``: 200 ``{"status": "ok",
    "checks": ...}`` when the domain's database and broker answer (and no
    subscription lags more than ``max_lag``), else 503 with ``"status":
    "degraded"``; ``checks`` is :func:`check_domain`'s report. For several
    domains in one app, :func:`health_router` answers for all of them.
    """
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse

    router = APIRouter(prefix=prefix, tags=tags or ["health"])

    def liveness() -> dict[str, Any]:
        return {"status": "ok", "checks": {"application": "running"}}

    router.add_api_route("/healthz", liveness, methods=["GET"])
    router.add_api_route("/livez", liveness, methods=["GET"])

    @router.get("/readyz")
    def readiness() -> JSONResponse:
        checks = check_domain(domain, max_lag)
        ok = bool(checks.pop("ready"))
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
        )

    return router
