"""Repositories of event-sourced aggregates: state is the replay of the stream.

Saving appends the aggregate's new events (the event store's per-stream
positions give optimistic concurrency); loading reads the stream and passes
each event, upcast when needed, to the aggregate's ``@apply`` methods.
"""

from __future__ import annotations

from typing import Any

from archipel.core.queryset import Criteria, ResultSet
from archipel.errors import NotSupportedError
from archipel.handling.decoding import message_from_stored
from archipel.handling.repository import BaseRepository

__all__ = ["EventSourcedRepository", "replay"]


def replay(cls: Any, identity: Any, events: list[Any]) -> Any:
    """The aggregate ``identity`` of ``cls`` with ``events`` applied in order (no validation)."""
    obj = cls.__new__(cls)
    values = obj.__dict__
    id_field = cls._id_field
    for name, field in cls._fields.items():
        if name == id_field:
            values[name] = identity
            continue
        factory = field.default_factory()
        values[name] = factory() if factory is not None else None
    obj._after_load()
    appliers = cls._appliers
    for event in events:
        applier = appliers.get(type(event))
        if applier is not None:
            applier(obj, event)
        position = event._metadata.position
        values["_event_position"] = position
        values["_version"] = position
    return obj


class EventSourcedRepository(BaseRepository[Any]):
    """The repository of an ``is_event_sourced=True`` aggregate."""

    def get_or_none(self, identity: Any) -> Any:
        uow = self._uow()
        if uow is not None:
            tracked = uow.tracked(self.cls, identity)
            if tracked is not None:
                return tracked
        category = self.cls._meta.stream_category  # type: ignore[attr-defined]
        stored = self.domain.providers.event_store.read_stream(f"{category}-{identity}")
        if not stored:
            return None
        events = [e for e in (message_from_stored(self.domain, s) for s in stored) if e is not None]
        obj = replay(self.cls, identity, events)
        if uow is not None:
            uow.remember(obj, identity)
        return obj

    def _run(self, criteria: Criteria) -> ResultSet[Any]:
        raise NotSupportedError(
            f"{self.cls.__name__} is event-sourced: it can be loaded by identity only; "
            "query a projection built from its events instead"
        )
