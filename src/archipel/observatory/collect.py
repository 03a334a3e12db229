"""What the observatory shows about one domain, as JSON-ready dicts.

Everything here is synchronous (adapters are) and is called from worker
threads by the web layer. Reading never changes the domain: the event store
is read forward from a cursor, subscription status and dead letters come
from :mod:`archipel.engine` when it is available, and from the domain's
routing table otherwise (handlers are still listed, with unknown lag).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from archipel.domain.domain import Domain

__all__ = ["DomainWatch", "event_json", "health_of"]

log = logging.getLogger("archipel.observatory")

_PAGE = 500
_MAX_SCAN_PAGES = 2000  # a first look at a huge store stops after ~1M messages


def event_json(stored: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's view of one stored message (``{"metadata", "data"}``)."""
    meta = stored.get("metadata") or {}
    return {
        "position": meta.get("global_position"),
        "id": meta.get("id"),
        "type": meta.get("type"),
        "kind": str(meta.get("kind") or "EVENT").lower(),
        "stream": meta.get("stream"),
        "time": meta.get("time"),
        "correlation_id": meta.get("correlation_id"),
        "causation_id": meta.get("causation_id"),
        "data": stored.get("data") or {},
    }


def health_of(row: dict[str, Any]) -> str:
    """One word for a subscription row.

    ``failing``: it has dead letters; ``behind``: messages wait for it;
    ``inline``: not run by the server (handled synchronously in the writer's
    process, ``active`` false); ``ok``: caught up; ``unknown``: run by the
    server but the broker cannot tell how far behind it is.
    """
    if row.get("dlq_depth"):
        return "failing"
    if row.get("lag") or row.get("pending"):
        return "behind"
    if row.get("active") is False:
        return "inline"
    if row.get("lag") is None and row.get("pending") is None:
        return "unknown"
    return "ok"


def _engine_function(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if callable(found) else None


class DomainWatch:
    """Read-only observer of one initialised domain (thread-safe, cheap to poll).

    Subscription status is cached for ``status_ttl`` seconds so that several
    dashboards polling every second cost one status computation, not one each.
    """

    def __init__(self, domain: Domain, status_ttl: float = 0.9) -> None:
        self.domain = domain
        self.name = domain.name
        self.slug = domain.snake_name
        self._status_ttl = status_ttl
        self._lock = threading.Lock()
        self._status: tuple[float, list[dict[str, Any]], str] | None = None
        self._deadlines: tuple[float, dict[str, Any]] | None = None
        self._tail_hint: int | None = None

    # -- static description --------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Name, element counts and processing configuration (no secrets)."""
        config = self.domain.config
        kinds = Counter(kind for kind, _cls in self.domain.registry.all())
        databases = config.get("databases") or {}
        brokers = config.get("brokers") or {}
        return {
            "name": self.name,
            "slug": self.slug,
            "elements": dict(sorted(kinds.items())),
            "processing": {
                "commands": config.get("command_processing", "sync"),
                "events": config.get("event_processing", "sync"),
            },
            "providers": {
                "databases": {n: (s or {}).get("provider") for n, s in databases.items()},
                "brokers": {n: (s or {}).get("provider") for n, s in brokers.items()},
                "event_store": (config.get("event_store") or {}).get("provider", "memory"),
            },
            "outbox": bool(self.domain.outbox_enabled),
        }

    # -- events ---------------------------------------------------------------
    def events_after(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` messages with a global position above ``after``."""
        with self.domain.domain_context():
            page = self.domain.event_store.read_all(after_global=after, limit=limit)
        events = [event_json(m) for m in page]
        if events:
            self._note_tail(events[-1]["position"])
        return events

    def recent_events(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` messages, oldest first.

        Event stores read forward only: start a little before the last known
        end (or ``count()`` when the store has it) and read to the end.
        """
        store = self.domain.event_store
        with self._lock:
            hint = self._tail_hint
        if hint is None:
            count = getattr(store, "count", None)
            hint = int(count()) if callable(count) else 0
        kept: deque[dict[str, Any]] = deque(maxlen=limit)
        after = max(0, hint - limit)
        with self.domain.domain_context():
            for _ in range(_MAX_SCAN_PAGES):
                page = store.read_all(after_global=after, limit=_PAGE)
                kept.extend(event_json(m) for m in page)
                if len(page) < _PAGE:
                    break
                after = int(page[-1]["metadata"].get("global_position") or after + len(page))
        if kept:
            self._note_tail(kept[-1]["position"])
        return list(kept)

    def _note_tail(self, position: Any) -> None:
        if isinstance(position, int):
            with self._lock:
                if self._tail_hint is None or position > self._tail_hint:
                    self._tail_hint = position

    @property
    def last_position(self) -> int:
        """The highest global position seen so far (0 before any read)."""
        with self._lock:
            return self._tail_hint or 0

    # -- subscriptions, outbox, dead letters ------------------------------------
    def subscriptions(self) -> tuple[list[dict[str, Any]], str]:
        """``(rows, source)``: one row per subscription; source ``engine`` or ``routes``."""
        now = time.monotonic()
        with self._lock:
            cached = self._status
        if cached is not None and now - cached[0] < self._status_ttl:
            return cached[1], cached[2]
        rows, source = self._engine_rows()
        if rows is None:
            rows, source = self._route_rows(), "routes"
        for row in rows:
            row["health"] = health_of(row)
        with self._lock:
            self._status = (now, rows, source)
        return rows, source

    def _engine_rows(self) -> tuple[list[dict[str, Any]] | None, str]:
        status = _engine_function("archipel.engine.status", "subscription_status")
        if status is None:
            return None, "routes"
        try:
            with self.domain.domain_context():
                found = list(status(self.domain))
        except Exception:
            log.exception("subscription status of %s failed", self.name)
            return None, "routes"
        rows = [
            {
                "name": str(row.name),
                "kind": str(row.kind),
                "streams": [str(s) for s in row.streams],
                "lag": row.lag,
                "pending": row.pending,
                "dlq_depth": row.dlq_depth,
                "active": getattr(row, "active", None),
            }
            for row in found
        ]
        return rows, "engine"

    def _route_rows(self) -> list[dict[str, Any]]:
        by_handler: dict[type, dict[str, Any]] = {}
        for route in self.domain.router.routes:
            row = by_handler.setdefault(
                route.handler_cls,
                {"name": route.handler_cls.__name__, "kind": route.kind, "streams": []},
            )
            if route.category not in row["streams"]:
                row["streams"].append(route.category)
        for stream, subscribers in self.domain.router.subscribers.items():
            for cls in subscribers:
                row = by_handler.setdefault(cls, {"name": cls.__name__, "kind": "subscriber", "streams": []})
                row["streams"].append(stream)
        rows = list(by_handler.values())
        # without the engine's view: with sync processing nothing waits for a server
        active = False if self.domain.handles_events_inline else None
        for row in rows:
            row.update(lag=None, pending=None, dlq_depth=None, active=active)
        return sorted(rows, key=lambda r: (r["kind"], r["name"]))

    def outbox_pending(self) -> int | None:
        """Messages written to the outbox(es) and not yet relayed; None if unknown."""
        total, known = 0, False
        for database in self.domain.providers.databases.values():
            try:
                outbox = getattr(database, "outbox", None)
                if outbox is None:
                    continue
                if callable(outbox):  # the port declares outbox() as a method
                    outbox = outbox()
                total += int(outbox.pending_count())
                known = True
            except Exception:
                log.exception("outbox of %s could not be read", self.name)
        return total if known else None

    def dlq_depth(self, rows: list[dict[str, Any]]) -> int | None:
        """Dead letters of the domain: from the status rows, else from the DLQ store."""
        depths = [int(row["dlq_depth"]) for row in rows if row.get("dlq_depth") is not None]
        if depths:
            return sum(depths)
        factory = _engine_function("archipel.engine.dlq", "dead_letter_store")
        if factory is None:
            return None
        try:
            with self.domain.domain_context():
                return len(list(factory(self.domain).list(limit=1000)))
        except Exception:
            log.exception("dead letters of %s could not be read", self.name)
            return None

    def deadlines(self) -> dict[str, Any]:
        """Process-manager deadlines: counts per state and the next due (cached like status).

        The shape of :func:`archipel.handling.deadline_status.deadline_status`;
        empty lists for a domain without process managers.
        """
        now = time.monotonic()
        with self._lock:
            cached = self._deadlines
        if cached is not None and now - cached[0] < self._status_ttl:
            return cached[1]
        from archipel.handling.deadline_status import deadline_status

        if not self.domain.registry.of_kind("process_manager"):
            found: dict[str, Any] = {"process_managers": [], "next": []}  # no table to read
        else:
            with self.domain.domain_context():
                found = deadline_status(self.domain)
        with self._lock:
            self._deadlines = (now, found)
        return found

    def summary(self) -> dict[str, Any]:
        """Description plus live numbers, subscriptions and deadlines, as sent to the dashboard."""
        rows, source = self.subscriptions()
        self.recent_events(1)  # moves last_position to the store's current end
        healths = Counter(row["health"] for row in rows)
        return {
            **self.describe(),
            "last_position": self.last_position,
            "outbox_pending": self.outbox_pending(),
            "dlq_depth": self.dlq_depth(rows),
            "subscriptions": rows,
            "status_source": source,
            "health": dict(healths),
            "deadlines": self.deadlines(),
        }
