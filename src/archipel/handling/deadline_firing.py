"""Firing due process-manager deadlines (see :mod:`archipel.handling.deadlines`)."""

from __future__ import annotations

import datetime as _dt
import logging
import time
from typing import TYPE_CHECKING, Any

from archipel.core.queryset import Criteria
from archipel.errors import ExpectedVersionError, IncorrectUsageError
from archipel.handling.deadlines import (
    FAILED,
    FIRED,
    MAX_ATTEMPTS,
    PENDING,
    deadline_table,
    process_manager_name,
)
from archipel.handling.decoding import decode_stored
from archipel.handling.process_managers import advance_process_manager
from archipel.handling.unit_of_work import UnitOfWork
from archipel.port.schema import ModelSchema
from archipel.utils import globals as _context
from archipel.utils.globals import scope
from archipel.utils.query import Q

if TYPE_CHECKING:
    from archipel.handling.dispatch import Route
    from archipel.handling.protocols import DomainLike

__all__ = ["fire_due_deadlines"]

log = logging.getLogger("archipel.deadlines")


def _route_for(domain: DomainLike, pm_name: str, message: Any) -> Route | None:
    for route in domain.router.routes:
        if (
            route.kind == "process_manager"
            and process_manager_name(route.handler_cls) == pm_name
            and route.spec.target is type(message)
        ):
            return route  # type: ignore[no-any-return]
    return None


def fire_due_deadlines(domain: DomainLike, now: float | _dt.datetime | None = None, limit: int = 100) -> int:
    """Deliver every pending deadline due by ``now`` (default: now); return how many fired.

    Each in its own unit of work, which marks the row fired: exactly once.
    A handler error leaves it pending (retried on the next call) until
    :data:`MAX_ATTEMPTS`, then marks it failed with the error.
    """
    from archipel.handling import dispatch

    moment = now.timestamp() if isinstance(now, _dt.datetime) else (time.time() if now is None else now)
    schema = deadline_table(domain)
    database = domain.providers.database("default")
    tx = database.begin()
    try:
        due, _ = tx.query(
            schema, Criteria(Q(kind="deadline", state=PENDING, due_at__lte=moment), limit=limit)
        )
    finally:
        tx.commit()
    fired = 0
    for row in sorted(due, key=lambda r: (r.get("due_at") or 0, r.get("sequence") or 0)):
        message = decode_stored(domain, row["message"])
        route = _route_for(domain, str(row["process_manager"]), message)
        record = {k: v for k, v in row.items() if k != "_version"}
        uow = UnitOfWork(domain, message)
        outer = scope.get()
        token = scope.set((outer[0], uow, message, outer[3]))
        try:
            with _context.domain_context(domain):
                if route is None:
                    raise IncorrectUsageError(
                        f"no process manager {row['process_manager']} of domain {domain.name!r} "
                        f"handles {row['message_type']}: was it renamed or its handler removed?"
                    )
                advance_process_manager(domain, route, message, str(row["correlation"]))
                # marked last: a write sent early would hold SQLite's lock while the
                # handler's own commands (compensations) commit
                record["state"] = FIRED
                uow.transaction("default").save(schema, record, int(row["_version"]))
                events = uow.commit()
            fired += 1
        except ExpectedVersionError:
            uow.rollback()  # fired or cancelled meanwhile (another worker)
            continue
        except Exception as exc:
            uow.rollback()
            _failed(domain, schema, row, exc)
            continue
        finally:
            scope.reset(token)
        if events and domain.handles_events_inline:
            with domain.domain_context():
                dispatch.publish(events, wrap=False)
    return fired


def _failed(domain: DomainLike, schema: ModelSchema, row: dict[str, Any], exc: BaseException) -> None:
    attempts = int(row.get("attempts") or 0) + 1
    record = {k: v for k, v in row.items() if k != "_version"}
    record.update(attempts=attempts, error=f"{type(exc).__name__}: {exc}")
    if attempts >= MAX_ATTEMPTS:
        record["state"] = FAILED
    log.warning("deadline %s of %s failed (attempt %d): %s", row["id"], row["process_manager"], attempts, exc)
    tx = domain.providers.database("default").begin()
    try:
        tx.save(schema, record, int(row["_version"]))
        tx.commit()
    except ExpectedVersionError:
        tx.rollback()
