"""Running process managers: load state by correlation value, handle, save.

An event whose correlation value has no instance starts one only if its
handler is marked ``start=True``; otherwise it is ignored, and so are events
for completed instances.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archipel.handling.repository import BaseRepository
from archipel.handling.unit_of_work import unit_of_work

if TYPE_CHECKING:
    from archipel.handling.dispatch import Route
    from archipel.handling.protocols import DomainLike

__all__ = [
    "ProcessManagerRepository",
    "advance_process_manager",
    "correlation_value",
    "run_process_manager",
]


class ProcessManagerRepository(BaseRepository[Any]):
    """Stores process-manager state keyed by correlation value."""

    def _rebuild(self, record: dict[str, Any]) -> Any:
        obj = super()._rebuild(record)
        object.__setattr__(obj, "_correlation_id", record.get("_correlation_id"))
        object.__setattr__(obj, "_is_complete", bool(record.get("_is_complete")))
        return obj


def correlation_value(spec: Any, message: Any) -> Any:
    """The value of the event field named by ``correlate``."""
    correlate = spec.correlate
    if isinstance(correlate, dict):
        field = next(iter(correlate.values()))
    else:
        field = correlate
    return getattr(message, field, None)


def advance_process_manager(domain: DomainLike, route: Route, message: Any, key: str) -> None:
    """Load the instance for ``key``, run the handler, save it — in the active unit of work.

    Shared by the synchronous path below and the engine's batches.
    """
    spec = route.spec
    pm_cls = route.handler_cls
    repo = domain.repository_for(pm_cls)
    pm = repo.get_or_none(key)
    if pm is None:
        if not spec.start:
            return  # only a start=True handler creates an instance
        pm = pm_cls()
        object.__setattr__(pm, "_correlation_id", key)
    elif pm.is_complete:
        return
    route.method(pm, message)
    if spec.end:
        pm.mark_as_complete()
    repo.add(pm)


def run_process_manager(domain: DomainLike, route: Route, message: Any) -> None:
    """Deliver ``message`` to a process manager in its own unit of work, then dispatch."""
    from archipel.handling import dispatch

    value = correlation_value(route.spec, message)
    if value is None:
        return
    with unit_of_work(domain, message) as uow:
        advance_process_manager(domain, route, message, str(value))
    if domain.handles_events_inline:
        dispatch.publish(uow.committed_events)
