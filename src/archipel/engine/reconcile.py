"""Outbox rows for stored messages that lack them (``archipel outbox reconcile``, Protean's).

A domain writes an event's outbox rows in the transaction that stores the
event, so on one database they are there together or not at all. A row can
still be missing: the event store is another database (it commits first: a
crash before the outbox commit loses the rows, Protean's "ADR-0015 window"),
rows were deleted by hand, or the database was restored from a backup taken
between the two. :func:`reconcile_outbox` reads the latest ``limit`` messages
of the log and adds a row for each message the domain would have given one —
its own events (domain rows when the outbox is on, integration rows for
``published`` events when ``[integration] broker`` is set) and its commands
submitted asynchronously — that has none.

What makes it safe on a live system (no message published twice):

- the relay deletes sent rows ``[server] outbox_retention_seconds`` after
  sending them, and a deleted row cannot be told from a lost one. A message
  is never older than its row's sending, so only messages written within the
  retention (less a margin of :data:`CLOCK_MARGIN` seconds for clocks that
  disagree) are looked at; older ones are counted as skipped. Raise the
  retention to widen what can be repaired;
- when the event store is another database than the outbox's, a business
  transaction stores its events before it commits their rows: messages
  younger than :data:`IN_FLIGHT_SECONDS` are left to the transaction
  that may still commit them;
- rows are added only where ``(message_id, stream)`` has none, one repair at
  a time per database (:meth:`archipel.port.outbox.Outbox.add_missing`), so
  running it twice, or twice at once, adds nothing the second time.

A repaired row is relayed after rows already waiting: an aggregate whose
later events were relayed before the repair receives the repaired one last.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archipel.domain.outbox import INTEGRATION_PREFIX
from archipel.engine.settings import EngineSettings
from archipel.errors import SchemaMissingError

__all__ = ["CLOCK_MARGIN", "IN_FLIGHT_SECONDS", "Reconciliation", "reconcile_outbox"]

#: seconds taken off the retention for clocks of writers and database that disagree
CLOCK_MARGIN = 30.0
#: seconds a message of a separate event store is left to its own transaction
IN_FLIGHT_SECONDS = 60.0
_PAGE = 1000


@dataclass
class Reconciliation:
    """What :func:`reconcile_outbox` found and did."""

    scanned: int = 0
    #: messages of this domain that get rows, within the window, with or without them
    considered: int = 0
    #: such messages outside the window (older than the retention, or in flight)
    skipped_old: int = 0
    skipped_recent: int = 0
    #: the rows added (or, with ``dry_run``, that would be): message_id, stream, type
    rows: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    #: epoch seconds: messages written in [oldest, newest] were looked at
    oldest: float = 0.0
    newest: float = 0.0

    def as_json(self, domain: str) -> dict[str, Any]:
        """The ``--json`` document of ``archipel outbox reconcile``."""
        iso = _iso
        return {
            "domain": domain, "dry_run": self.dry_run, "scanned": self.scanned,
            "considered": self.considered, "skipped_old": self.skipped_old,
            "skipped_recent": self.skipped_recent, "created": 0 if self.dry_run else len(self.rows),
            "window": {"from": iso(self.oldest), "to": iso(self.newest)},
            "rows": [{"message_id": r["message_id"], "stream": r["stream"], "type": r["type"]}
                     for r in self.rows],
        }


def _iso(epoch: float) -> str | None:
    if epoch <= 0:
        return None
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat()


def _written_at(meta: dict[str, Any]) -> float | None:
    text = meta.get("time")
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _separate_store(domain: Any) -> bool:
    """Whether the event store commits apart from the outbox's (default) database."""
    store_engine = getattr(domain.event_store, "engine", None)
    db_engine = getattr(domain.providers.database("default"), "engine", None)
    return store_engine is None or store_engine is not db_engine


def _rows_for(domain: Any, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The outbox rows the domain wrote for ``message`` when it stored it (none if not its own)."""
    meta = message.get("metadata") or {}
    kind = str(meta.get("kind") or "").upper()
    type_string = str(meta.get("type") or "")
    owner = meta.get("domain") or type_string.split(".", 1)[0]
    if owner not in (domain.name, domain.type_prefix) or not meta.get("id") or not meta.get("stream"):
        return []
    stored_meta = dict(meta)
    stored_meta["global_position"] = None  # as the business transaction wrote it
    record: dict[str, Any] = {
        "message_id": str(meta["id"]),
        "stream": str(meta["stream"]),
        "type": type_string,
        "priority": int(meta.get("priority") or 0),
        "correlation_id": meta.get("correlation_id"),
        "message": {"metadata": stored_meta, "data": message.get("data") or {}},
    }
    if kind == "COMMAND":
        return [record] if meta.get("asynchronous") else []  # enqueue_command's row
    if kind != "EVENT":
        return []  # snapshots and the like
    rows = [record] if domain._outbox_enabled else []
    if domain._integration_broker is not None:
        name = type_string.split(".")[1] if type_string.count(".") >= 2 else ""
        cls = domain.registry.elements["event"].get(name)
        if cls is not None and cls._meta.published:
            rows.append({**record, "stream": INTEGRATION_PREFIX + record["stream"]})
    return rows


def _tail(store: Any, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` messages of the log (global positions may have holes: at most
    ``limit`` are read, from ``head - limit``)."""
    head = int(store.head())
    after = max(0, head - limit)
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        page = store.read_all(after_global=after, limit=min(_PAGE, limit - len(found)))
        if not page:
            break
        found.extend(page)
        after = int((page[-1].get("metadata") or {}).get("global_position") or after + len(page))
    return found


def reconcile_outbox(
    domain: Any,
    limit: int = 1000,
    dry_run: bool = False,
    now: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Reconciliation:
    """Add the outbox rows missing for the latest ``limit`` messages (see the module).

    Call it in the domain's context. A store or outbox never set up has nothing to repair.
    """
    settings = EngineSettings.from_config(domain.config)
    moment = time.time() if now is None else now
    found = Reconciliation(dry_run=dry_run)
    found.oldest = moment - settings.outbox_retention_seconds + CLOCK_MARGIN
    found.newest = moment - IN_FLIGHT_SECONDS if _separate_store(domain) else moment
    try:
        messages = _tail(domain.event_store, limit)
    except SchemaMissingError:
        return found
    found.scanned = len(messages)
    if progress is not None:
        progress(f"read {len(messages)} messages; looking for missing rows")
    candidates: list[dict[str, Any]] = []
    for message in messages:
        rows = _rows_for(domain, message)
        if not rows:
            continue
        written = _written_at(message.get("metadata") or {})
        if written is None or written < found.oldest:
            found.skipped_old += 1  # its rows may have been relayed and purged
        elif written > found.newest:
            found.skipped_recent += 1
        else:
            found.considered += 1
            candidates.extend(rows)
    if candidates:
        outbox = domain.providers.database("default").outbox()
        try:
            found.rows = outbox.add_missing(candidates, dry_run=dry_run)
        except SchemaMissingError:
            found.rows = []
    return found
