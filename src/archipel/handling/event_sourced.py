"""Repositories of event-sourced aggregates: state is the replay of the stream.

Saving appends the aggregate's new events (the event store's per-stream
positions give optimistic concurrency); loading starts from the latest
snapshot (:mod:`archipel.handling.snapshots`), reads the events after it
and passes each, upcast when needed, to the aggregate's ``@apply`` methods.

History: ``get(id, at_version=N)`` is the state after the event at
position ``N`` (0 is the first event); ``get(id, as_of=moment)`` the state
from the events written at or before ``moment``. Such aggregates are
read-only: ``raise_`` and ``add`` refuse them.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from archipel.core.event_sourcing import apply_events, fresh_aggregate
from archipel.core.queryset import Criteria, ResultSet
from archipel.errors import IncorrectUsageError, NotSupportedError, ObjectNotFound
from archipel.handling.decoding import decode_stored
from archipel.handling.repository import BaseRepository
from archipel.handling.snapshots import (
    latest_snapshot,
    snapshot_of,
    snapshot_threshold,
    write_snapshot,
)
from archipel.handling.unit_of_work import run_quietly

__all__ = ["EventSourcedRepository", "replay"]


def replay(cls: Any, identity: Any, events: list[Any]) -> Any:
    """The aggregate ``identity`` of ``cls`` with ``events`` applied in order (no validation)."""
    return apply_events(fresh_aggregate(cls, identity), events)


class EventSourcedRepository(BaseRepository[Any]):
    """The repository of an ``is_event_sourced=True`` aggregate."""

    def get(
        self, identity: Any, *, at_version: int | None = None, as_of: _dt.datetime | None = None
    ) -> Any:
        """The aggregate (latest, or at a version / moment); ``ObjectNotFound`` when missing.

        ``at_version`` beyond the last event raises ``ObjectNotFound`` naming
        the latest version; ``at_version`` and ``as_of`` together raise
        ``IncorrectUsageError``.
        """
        obj = self.get_or_none(identity, at_version=at_version, as_of=as_of)
        if obj is None:
            when = (
                f" at version {at_version}" if at_version is not None
                else f" as of {as_of.isoformat()}" if as_of is not None
                else ""
            )
            raise ObjectNotFound(f"{self.cls.__name__} with identity {identity!r} has no events{when}")
        return obj

    def get_or_none(
        self, identity: Any, *, at_version: int | None = None, as_of: _dt.datetime | None = None
    ) -> Any:
        """Like :meth:`get`, None instead of ``ObjectNotFound`` when there are no events.

        A version beyond the stream still raises ``ObjectNotFound``: the
        aggregate exists, the asked state never did.
        """
        if at_version is not None or as_of is not None:
            return self._historic(identity, at_version, as_of)
        uow = self._uow()
        if uow is not None:
            tracked = uow.tracked(self.cls, identity)
            if tracked is not None:
                return tracked
        obj = self._load_latest(identity)
        if obj is not None and uow is not None:
            uow.remember(obj, identity)
        return obj

    def _stream(self, identity: Any) -> str:
        return f"{self.cls._meta.stream_category}-{identity}"  # type: ignore[attr-defined]

    def _decode(self, stored: list[dict[str, Any]]) -> list[Any]:
        domain = self.domain
        return [decode_stored(domain, s) for s in stored]

    def _load_latest(self, identity: Any) -> Any:
        domain = self.domain
        cls = self.cls
        snapshot = latest_snapshot(domain, cls, identity)
        start = 0 if snapshot is None else snapshot._version + 1
        stored = domain.providers.event_store.read_stream(self._stream(identity), start)
        if snapshot is None and not stored:
            return None
        base = snapshot if snapshot is not None else fresh_aggregate(cls, identity)
        obj = apply_events(base, self._decode(stored))
        threshold = snapshot_threshold(domain)
        if threshold and len(stored) >= threshold:
            self._snapshot_later(obj)
        return obj

    def _snapshot_later(self, obj: Any) -> None:
        """Snapshot ``obj`` as loaded: now, or after the unit of work (never inside its transaction)."""
        domain = self.domain
        state = snapshot_of(obj)
        uow = self._uow()
        if uow is None:
            run_quietly([lambda: write_snapshot(domain, state)])
        else:
            uow.after_commit(lambda: write_snapshot(domain, state))

    def _historic(self, identity: Any, at_version: int | None, as_of: _dt.datetime | None) -> Any:
        if at_version is not None and as_of is not None:
            raise IncorrectUsageError("give at_version or as_of, not both")
        store = self.domain.providers.event_store
        stream = self._stream(identity)
        cls = self.cls
        if at_version is not None:
            if isinstance(at_version, bool) or not isinstance(at_version, int) or at_version < 0:
                raise IncorrectUsageError(
                    f"at_version={at_version!r}: versions are positions in the stream, 0 and up"
                )
            snapshot = latest_snapshot(self.domain, cls, identity)
            if snapshot is not None and snapshot._version <= at_version:
                stored = store.read_stream(stream, snapshot._version + 1, at_version)
                obj = apply_events(snapshot, self._decode(stored))
            else:
                stored = store.read_stream(stream, 0, at_version)
                if not stored:
                    return None
                obj = replay(cls, identity, self._decode(stored))
            if obj._version < at_version:
                raise ObjectNotFound(
                    f"{cls.__name__} with identity {identity!r} has no version {at_version}: "
                    f"its latest version is {obj._version}"
                )
        else:
            assert as_of is not None
            if not isinstance(as_of, _dt.datetime):
                raise IncorrectUsageError(f"as_of takes a datetime, got {type(as_of).__name__}")
            stored = store.as_of(stream, as_of)
            if not stored:
                return None
            obj = replay(cls, identity, self._decode(stored))
        obj.__dict__["_temporal"] = True
        return obj

    def add(self, obj: Any) -> Any:
        """Save the new events of ``obj``; a historic (temporal) aggregate is refused."""
        if getattr(obj, "__dict__", {}).get("_temporal"):
            raise IncorrectUsageError(
                f"this {type(obj).__name__} was loaded with at_version/as_of: it is a read-only "
                "view of the past and cannot be saved"
            )
        return super().add(obj)

    def _run(self, criteria: Criteria) -> ResultSet[Any]:
        raise NotSupportedError(
            f"{self.cls.__name__} is event-sourced: it can be loaded by identity only; "
            "query a projection built from its events instead"
        )
