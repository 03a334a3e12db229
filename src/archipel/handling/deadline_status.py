"""How a domain's process-manager deadlines stand: counts per state and the next due.

Shown by ``archipel subscriptions status`` (text and ``--json``) and by the
observatory (``/api/domains/{name}`` and ``/api/domains/{name}/deadlines``).
Only reads, with counting queries the deadline table's indexes serve: a
database where no deadline was ever stored shows zeros, and nothing is created.

Shape (stable; new keys may be added)::

    {"process_managers": [{"name", "pending", "fired", "cancelled", "failed",
                           "next_due_at"}],
     "next": [{"id", "process_manager", "correlation", "type", "due_at",
               "state", "attempts", "error"}]}

``due_at``/``next_due_at`` are ISO 8601 in UTC (None when nothing is pending);
``next`` lists the earliest pending deadlines of the domain, earliest first,
and then the failed ones (which no longer fire and need a look).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from archipel.core.queryset import Criteria
from archipel.errors import SchemaMissingError
from archipel.handling.deadlines import (
    CANCELLED,
    FAILED,
    FIRED,
    PENDING,
    deadline_schema,
    process_manager_name,
)
from archipel.utils.query import Q

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = ["DEADLINE_STATES", "deadline_status", "due_iso"]

#: the states a deadline row goes through, in the order they are shown
DEADLINE_STATES = (PENDING, FIRED, CANCELLED, FAILED)


def due_iso(due_at: Any) -> str | None:
    """A stored ``due_at`` (seconds since the epoch) as ISO 8601 in UTC."""
    if due_at is None:
        return None
    return _dt.datetime.fromtimestamp(float(due_at), _dt.UTC).isoformat()


def deadline_status(domain: DomainLike, next_limit: int = 5) -> dict[str, Any]:
    """Counts per process manager and state, and the next ``next_limit`` due deadlines.

    Every process manager of the domain is listed, with zeros when it never
    scheduled anything; so is one that is no longer registered (renamed,
    removed) when one of its deadlines is among the next due or the failed.
    """
    names = {process_manager_name(cls) for cls in domain.registry.of_kind("process_manager").values()}
    schema = deadline_schema(domain)
    tx = domain.providers.database("default").begin()
    try:
        soonest, _ = tx.query(
            schema, Criteria(Q(kind="deadline", state=PENDING), order_by=("due_at",), limit=next_limit)
        )
        failed, _ = tx.query(
            schema, Criteria(Q(kind="deadline", state=FAILED), order_by=("due_at",), limit=next_limit)
        )
        names.update(str(row["process_manager"]) for row in [*soonest, *failed])
        managers = [_counts(tx, schema, name) for name in sorted(names)]
    except SchemaMissingError:
        zero = dict.fromkeys(DEADLINE_STATES, 0)
        return {"process_managers": [{"name": n, **zero, "next_due_at": None} for n in sorted(names)], "next": []}
    finally:
        tx.commit()
    return {"process_managers": managers, "next": [_row_json(r) for r in [*soonest, *failed]]}


def _counts(tx: Any, schema: Any, name: str) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name}
    for state in DEADLINE_STATES:
        _, row[state] = tx.query(schema, Criteria(Q(kind="deadline", process_manager=name, state=state), limit=0))
    first, _ = tx.query(
        schema, Criteria(Q(kind="deadline", process_manager=name, state=PENDING), order_by=("due_at",), limit=1)
    )
    row["next_due_at"] = due_iso(first[0]["due_at"]) if first else None
    return row


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "process_manager": row["process_manager"],
        "correlation": row["correlation"],
        "type": row["message_type"],
        "due_at": due_iso(row.get("due_at")),
        "state": row["state"],
        "attempts": int(row.get("attempts") or 0),
        "error": row.get("error"),
    }
