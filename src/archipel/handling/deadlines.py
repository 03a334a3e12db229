"""Process-manager deadlines and compensations, stored with the process manager's state.

In a handler, ``self.schedule(PaymentOverdue(order_id=...), after=timedelta(minutes=15))``
asks for the event to be delivered to the same instance later;
``self.cancel_deadlines(PaymentOverdue)`` (or with no class: every one) withdraws
pending ones; a deadline of an instance completed meanwhile fires into nothing
(completed instances ignore every message).
``self.add_compensation(ReleaseStock(...))`` records a command that undoes a
step; ``self.compensate()`` processes the recorded commands, the latest first
(each is processed at once, in its own unit of work: if the handler then fails,
they run again on its retry — make compensating commands idempotent).

Both are rows in the domain's default database
(``archipel_<domain>_deadlines``), written in the unit of work that saves the
instance: a deadline exists exactly when the state that asked for it was
committed. :func:`~archipel.handling.deadline_firing.fire_due_deadlines` (run by ``archipel server`` every
``[server] deadline_poll_seconds``, or called directly) delivers each due
deadline in a unit of work that also marks its row fired, with optimistic
concurrency: it fires once, even with several workers, and a process killed
before the commit leaves it pending, to fire after the restart.
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from archipel.core.index import Index
from archipel.core.message import new_message_id, utcnow
from archipel.core.queryset import Criteria
from archipel.errors import SchemaMissingError
from archipel.fields import Dict, Float, Integer, String, Text
from archipel.handling.decoding import decode_stored
from archipel.port.schema import ModelSchema, record_schema
from archipel.utils.query import Q

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = [
    "CANCELLED",
    "FIRED",
    "FAILED",
    "PENDING",
    "MAX_ATTEMPTS",
    "deadline_schema",
    "deadline_table",
    "pending_deadlines",
    "process_manager_name",
    "save_requests",
]

log = logging.getLogger("archipel.deadlines")

PENDING, FIRED, CANCELLED, FAILED, USED = "pending", "fired", "cancelled", "failed", "used"
#: failed deliveries of a deadline before it is marked failed (visible, no longer retried)
MAX_ATTEMPTS = 5


_SCHEMAS: dict[str, ModelSchema] = {}


def deadline_schema(domain: DomainLike) -> ModelSchema:
    """Deadlines (``kind="deadline"``) and compensations (``kind="compensation"``).

    One schema object per table (adapters cache their statements by it). Two
    indexes match the queries: ``(process_manager, correlation, state)`` for an
    instance's own rows (cancelling, compensating) and ``(state, due_at)`` for
    the due ones (firing, status pages); ``database setup`` creates them on SQL
    databases.
    """
    table = f"archipel_{domain.snake_name}_deadlines"
    schema = _SCHEMAS.get(table)
    if schema is None:
        schema = record_schema(
            "Deadline",
            table,
            id=String(identifier=True, max_length=64),
            kind=String(max_length=20),
            process_manager=String(max_length=255),
            correlation=String(max_length=255),
            message_type=String(max_length=255),
            message=Dict(),
            due_at=Float(),
            state=String(max_length=20),
            sequence=Integer(),
            attempts=Integer(),
            error=Text(),
        )
        schema.indexes = (
            Index("process_manager", "correlation", "state"),
            Index("state", "due_at"),
        )
        schema = _SCHEMAS.setdefault(table, schema)
    return schema


_ready: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def deadline_table(domain: DomainLike) -> ModelSchema:
    """The deadline table's schema, the table created on first use."""
    return _schema(domain)


def _schema(domain: DomainLike) -> ModelSchema:
    schema = deadline_schema(domain)
    database = domain.providers.database("default")
    try:
        known = _ready.get(database) == schema.table
    except TypeError:  # not weak-referenceable: set up every time (idempotent)
        known = False
    if not known:
        database.setup([schema])
        try:
            _ready[database] = schema.table
        except TypeError:
            pass
    return schema


def process_manager_name(cls: type) -> str:
    """The process manager's name in its domain (stable across module moves and ``-m`` runs)."""
    return cls.__name__


def _as_stored(message: Any) -> dict[str, Any]:
    meta = message._metadata
    values = meta.__dict__
    if values.get("id") is None:
        values["id"] = new_message_id()
    options = type(message)._meta
    values["type"] = options.type_string
    values["version"] = options.version
    if values.get("time") is None:
        values["time"] = utcnow()
    return message.to_message()  # type: ignore[no-any-return]


def save_requests(domain: DomainLike, uow: Any, pm: Any, key: str, source: Any) -> None:
    """Write what a handler of ``pm`` asked for (deadlines, cancellations,
    compensations) in ``uow``'s default transaction; called after the handler."""
    values = pm.__dict__
    scheduled = values.pop("_deadlines", None)
    cancel = values.pop("_cancel_deadlines", None)
    compensations = values.pop("_compensations", None)
    used = values.pop("_compensations_used", None)
    if not (scheduled or cancel or compensations or used):
        return
    schema = _schema(domain)
    tx = uow.transaction("default")
    name = process_manager_name(type(pm))
    if cancel or used:
        rows, _ = tx.query(schema, Criteria(Q(process_manager=name, correlation=key, state=PENDING)))
        for row in rows:
            cancels = row["kind"] == "deadline" and (
                cancel is not None and (None in cancel or row["message_type"] in cancel)
            )
            if cancels or (row["kind"] == "compensation" and used and row["id"] in used):
                record = {k: v for k, v in row.items() if k != "_version"}
                record["state"] = CANCELLED if row["kind"] == "deadline" else USED
                tx.save(schema, record, int(row["_version"]))
    correlation_id = getattr(getattr(source, "_metadata", None), "correlation_id", None)
    for message, due_at in scheduled or ():
        stored = _as_stored(message)
        stored["metadata"]["correlation_id"] = stored["metadata"].get("correlation_id") or correlation_id
        tx.save(schema, {
            "id": str(uuid.uuid4()), "kind": "deadline", "process_manager": name, "correlation": key,
            "message_type": stored["metadata"]["type"], "message": stored, "due_at": due_at,
            "state": PENDING, "sequence": time.time_ns(), "attempts": 0, "error": None,
        }, -1)
    for command in compensations or ():
        stored = _as_stored(command)
        tx.save(schema, {
            "id": str(uuid.uuid4()), "kind": "compensation", "process_manager": name,
            "correlation": key, "message_type": stored["metadata"]["type"], "message": stored,
            "due_at": None, "state": PENDING, "sequence": time.time_ns(), "attempts": 0, "error": None,
        }, -1)


def compensation_source(domain: DomainLike, uow: Any, pm: Any, key: str) -> Any:
    """What ``pm.compensations()`` calls: the recorded, unused compensations, latest first."""

    def load() -> list[tuple[str, Any]]:
        schema = _schema(domain)
        tx = uow.transaction("default")
        rows, _ = tx.query(
            schema,
            Criteria(Q(process_manager=process_manager_name(type(pm)), correlation=key, kind="compensation", state=PENDING)),
        )
        rows.sort(key=lambda r: r.get("sequence") or 0, reverse=True)
        return [(str(r["id"]), decode_stored(domain, r["message"])) for r in rows]

    return load


def pending_deadlines(domain: DomainLike, process_manager: type | None = None) -> list[dict[str, Any]]:
    """Pending and failed deadlines (for status pages), earliest first.

    Only reads: on a database where no deadline was ever stored there are none.
    """
    schema = deadline_schema(domain)
    tx = domain.providers.database("default").begin()
    try:
        q = Q(kind="deadline", state__in=[PENDING, FAILED])
        if process_manager is not None:
            q = q & Q(process_manager=process_manager_name(process_manager))
        rows, _ = tx.query(schema, Criteria(q))
    except SchemaMissingError:
        rows = []
    finally:
        tx.commit()
    return sorted(rows, key=lambda r: r.get("due_at") or 0)
