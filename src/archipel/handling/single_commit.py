"""The commit of a unit of work holding one aggregate or projection: most handlers' case.

A command handler adds one aggregate (and its events); a projector adds one
projection. :meth:`UnitOfWork.commit <archipel.handling.unit_of_work.UnitOfWork.commit>`
hands such a unit of work here when it has opened no transaction (nothing was
read), deletes nothing and records no processed message. The steps are the
general commit's, in its order, for one object: the events' correlation and
causation ids, the object's stamps and enrichers, its row, the events (and a
command) in the event store, one transaction's commit. A database that offers
``commit_row(schema, record, expected_version, store, messages, outbox)`` (memory,
SQLite, PostgreSQL) commits the row, the appends and the events' outbox rows
(``enable_outbox``: :meth:`Outbox.outbox_records <archipel.domain.outbox.Outbox.outbox_records>`,
built at the point the general commit builds them, so they hold the same message)
at once, without a transaction object, and wakes their relays as a transaction's
commit does; any other gets ``begin``, ``save``, the store's ``append``,
``add_outbox`` and ``commit``, as in the general commit. What this path does
not handle (a fact event, inline projectors, integration events bound for an
integration broker, an event-sourced aggregate or a process manager, a write to
a database other than the event store's) is answered None, before anything is
changed: the general commit runs instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archipel.core.model import stamp_dates
from archipel.utils import globals as _context
from archipel.utils import tracing

if TYPE_CHECKING:
    from archipel.handling.unit_of_work import UnitOfWork

__all__ = ["commit_single", "message_causes", "stamp_causes"]


def message_causes(message: Any) -> tuple[Any, Any, int]:
    """``(correlation_id, causation_id, priority)`` that events raised while handling
    ``message`` take: its correlation (or its id) and its id, and its lane; with no message
    (events raised outside any command), the request's correlation id, if any."""
    if message is not None:
        meta = message._metadata
        return meta.correlation_id or meta.id, meta.id, meta.priority
    return _context.current_correlation_id.get(), None, 0


def stamp_causes(raised: Any, correlation_id: Any, causation_id: Any, priority: int, events: list[Any]) -> None:
    """Give each of ``raised`` the ids and lane it has not set (see :func:`message_causes`),
    and append it to ``events``."""
    for event in raised:
        evalues = event._metadata.__dict__
        if evalues.get("correlation_id") is None:
            evalues["correlation_id"] = correlation_id or evalues["id"]
        if evalues.get("causation_id") is None:
            evalues["causation_id"] = causation_id
        if priority and "priority" not in evalues:
            evalues["priority"] = priority  # events travel in the lane of what caused them
        events.append(event)


def commit_single(uow: UnitOfWork, message: Any) -> list[Any] | None:
    """Commit ``uow``, which tracks one object; its events, or None (not this case)."""
    tracked = uow._tracked
    key, obj = tracked.popitem()  # its one object (no view, no iterator): put back if not this case
    domain = uow.domain
    found = domain._single_plan.get(type(obj))
    if found is None:  # a fact event, an event-sourced aggregate, a process manager...
        tracked[key] = obj
        return None
    schema, aggregate, in_default, stamps = found
    values = obj.__dict__
    raised = values.get("_events")
    if message is None:
        meta = None
        is_command = False
    else:
        meta = message._metadata
        is_command = meta.kind == "COMMAND"
    if raised or is_command:  # the event store is written with the row: one transaction
        if not in_default or domain._integration_broker is not None or (raised and domain.router.inline_events):
            tracked[key] = obj
            return None
    events: list[Any] = []
    if raised:  # ``stamp_causes(raised, *message_causes(message), events)``, inline
        if meta is not None:
            causation_id = meta.id
            correlation_id = meta.correlation_id or causation_id
            priority = meta.priority
        else:
            correlation_id, causation_id, priority = _context.current_correlation_id.get(), None, 0
        for event in raised:
            emeta = event._metadata  # read before written (a stored envelope decodes on its first read)
            if emeta.correlation_id is None:
                emeta.correlation_id = correlation_id or emeta.id
            if emeta.causation_id is None:
                emeta.causation_id = causation_id
            if priority and "priority" not in emeta.__dict__:
                emeta.__dict__["priority"] = priority  # events travel in the lane of what caused them
            events.append(event)
    providers = domain.providers
    version = values.get("_version", -1)
    try:
        if stamps:
            stamp_dates(obj, version == -1)
        if aggregate and domain.aggregate_enrichers:
            for enrich in domain.aggregate_enrichers:
                enrich(obj)  # audit fields, stamped just before the save
            version = values.get("_version", -1)  # as the enrichers left it
        db = providers.databases.get(schema.database)
        if db is None:
            db = providers.database(schema.database)
        record = obj.to_dict()
        if aggregate:
            record["_event_position"] = values["_event_position"]
        if events and tracing.tracer is not None:
            for event in events:  # the span handling this message caused them
                tracing.stamp(event._metadata)
        commit_row = getattr(db, "commit_row", None)
        if commit_row is not None:  # one write committed at once (memory, SQLite, PostgreSQL)
            if events:
                to_store = [message, *events] if is_command else events  # commands are recorded for tracing
                if domain._outbox_enabled:  # their outbox rows, built where the general commit builds them
                    commit_row(
                        schema, record, version, providers._event_store, to_store, domain.outbox_records(events)
                    )
                else:
                    commit_row(schema, record, version, providers._event_store, to_store)
            elif is_command:  # commands are recorded for tracing
                commit_row(schema, record, version, providers._event_store, [message])
            else:
                commit_row(schema, record, version)
        else:
            # ``uow.transaction(database)``, inline: this unit of work has none open
            tx = uow._transactions[schema.database] = db.begin()
            tx.save(schema, record, version)
            to_store = [message, *events] if is_command else events  # commands are recorded for tracing
            if to_store:
                providers.event_store.append(to_store, transaction=tx)
            if events and domain._outbox_enabled:
                tx.add_outbox(domain.outbox_records(events))
            tx.commit()
            uow._transactions.clear()
    except BaseException:
        uow.rollback()
        raise
    if raised:
        values["_events"] = []
    values["_changed"] = False  # stored as it is now (``state_.is_changed``)
    values["_version"] = version + 1
    uow._loaded = None
    uow.committed_events = events
    if uow._after_commit:
        uow._run_after_commit()
    return events
