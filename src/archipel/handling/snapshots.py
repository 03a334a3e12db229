"""Snapshots of event-sourced aggregates: a cache of state, never the source of truth.

A snapshot is a message in the event store, in the stream
``<category>:snapshot-<id>`` (``bank::account:snapshot-42``); its data is
``{"version": N, "schema": <fingerprint>, "state": {...fields...}}``: the
aggregate's fields after the event at position ``N``. Loading starts from
the latest snapshot and replays only the events after it; a snapshot whose
schema fingerprint differs from the aggregate class's (a field added,
renamed or retyped since) is ignored (a
``snapshot_discarded`` WARNING on ``archipel.snapshot``, as in Protean), and a fresh
one is written on that load. When a load replays ``snapshot_threshold`` (domain config, default
10; 0 turns automatic snapshots off) events or more, it writes a new
snapshot.

Only fields are captured: state an ``@apply`` method keeps outside the
aggregate's fields is rebuilt by a full replay only, so keep it in fields.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from archipel.core.event_sourcing import apply_events, fresh_aggregate, schema_fingerprint
from archipel.core.message import Metadata, utcnow
from archipel.errors import (
    ConfigurationError,
    ExpectedVersionError,
    IncorrectUsageError,
    ObjectNotFound,
)
from archipel.handling.decoding import decode_stored
from archipel.utils.log_filters import correlation_ids
from archipel.utils.wide_events import SNAPSHOT_LOGGER, emit_wide_event

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = [
    "Snapshot",
    "TakenSnapshot",
    "aggregate_identities",
    "create_all_snapshots",
    "create_snapshot",
    "create_snapshots",
    "latest_snapshot",
    "snapshot_of",
    "snapshot_stream",
    "snapshot_threshold",
    "write_snapshot",
]

#: the ``kind`` of snapshot messages in the event store
SNAPSHOT_KIND = "SNAPSHOT"
_PAGE = 1000
_SNAPSHOT_NAMESPACE = uuid.UUID("5f1c0e4e-7a52-4c0b-9d2e-61c1a3b8e7d4")


def snapshot_stream(category: str, identity: Any) -> str:
    """``"bank::account", 42`` -> ``"bank::account:snapshot-42"``."""
    return f"{category}:snapshot-{identity}"


def snapshot_threshold(domain: DomainLike) -> int:
    """Events a load may replay before it writes a snapshot (0: never automatically)."""
    value = domain.config.get("snapshot_threshold", 10)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(
            f"snapshot_threshold = {value!r}: give a whole number of events >= 0 "
            "(e.g. snapshot_threshold = 50; 0 turns automatic snapshots off)"
        )
    return value


class Snapshot:
    """The message a snapshot is stored as (what the event stores append)."""

    __slots__ = ("_metadata", "_data")

    def __init__(self, metadata: Metadata, data: dict[str, Any]) -> None:
        self._metadata = metadata
        self._data = data

    def to_dict(self) -> dict[str, Any]:
        """The snapshot's data: version, schema fingerprint and state."""
        return self._data


def _fingerprint(cls: Any) -> str:
    found = cls.__dict__.get("_archipel_schema_fingerprint")
    if found is None:
        found = schema_fingerprint(cls)
        cls._archipel_schema_fingerprint = found
    return str(found)


def latest_snapshot(domain: DomainLike, cls: Any, identity: Any) -> Any:
    """The aggregate restored from its latest usable snapshot, or None.

    None when there is no snapshot, or when the latest was taken with a
    different schema of the class (it is then ignored, not trusted).
    """
    store = domain.providers.event_store
    stream = snapshot_stream(cls._meta.stream_category, identity)
    read_last = getattr(store, "read_last", None)
    if read_last is not None:
        stored = read_last(stream)
    else:
        found = store.read_stream(stream)
        stored = found[-1] if found else None
    if stored is None:
        return None
    data = stored.get("data") or {}
    version = data.get("version")
    if not isinstance(version, int):
        return _discarded(cls, identity, stored, "the snapshot has no integer version")
    if data.get("schema") != _fingerprint(cls):
        return _discarded(
            cls, identity, stored,
            f"the snapshot was taken with another schema of {cls.__name__} "
            f"(fingerprint {data.get('schema')!r}, now {_fingerprint(cls)!r})",
        )
    obj = cls._from_primitive(data.get("state") or {})
    values = obj.__dict__
    values["_version"] = version
    values["_event_position"] = version
    return obj


def _discarded(cls: Any, identity: Any, stored: Any, reason: str) -> None:
    """Protean's ``snapshot_discarded`` WARNING on ``archipel.snapshot``: the aggregate is
    replayed from its events instead (``archipel snapshot create`` writes a fresh one)."""
    if SNAPSHOT_LOGGER.isEnabledFor(logging.WARNING):
        fields = {"aggregate": cls.__name__, "aggregate_id": str(identity), "reason": reason}
        emit_wide_event(SNAPSHOT_LOGGER, "snapshot_discarded", fields, correlation_ids())
    return None


class TakenSnapshot(NamedTuple):
    """An aggregate's state frozen at one version, ready to be written."""

    cls: Any
    identity: Any
    version: int
    state: dict[str, Any]


def snapshot_of(obj: Any) -> TakenSnapshot:
    """The state of ``obj`` now (a copy: later changes to ``obj`` do not reach it)."""
    cls = type(obj)
    values = obj.__dict__
    return TakenSnapshot(cls, values[cls._id_field], values.get("_version", -1), obj.to_dict())


def write_snapshot(domain: DomainLike, taken: TakenSnapshot) -> bool:
    """Store ``taken``; False when there is nothing to store or it is stored already.

    The message id is derived from the stream and version, so two processes
    snapshotting the same version store one message (appends are idempotent
    by id); a race between two versions keeps the first.
    """
    cls, identity, version, state = taken
    if version < 0:
        return False
    stream = snapshot_stream(cls._meta.stream_category, identity)
    meta = Metadata(
        id=str(uuid.uuid5(_SNAPSHOT_NAMESPACE, f"{stream}@{version}")),
        type=f"{cls._meta.domain.type_prefix}.{cls.__name__}.snapshot",
        kind=SNAPSHOT_KIND,
        stream=stream,
        time=utcnow(),
        domain=cls._meta.domain_name,
    )
    data = {"version": version, "schema": _fingerprint(cls), "state": state}
    try:
        return bool(domain.providers.event_store.append([Snapshot(meta, data)]))
    except ExpectedVersionError:
        return False  # a concurrent load wrote one at the same moment: either will do


def _check_event_sourced(domain: DomainLike, cls: Any) -> None:
    registered: Any = domain.registry.of_kind("aggregate").get(getattr(cls, "__name__", ""))
    if registered is None or registered is not cls:
        raise IncorrectUsageError(
            f"{getattr(cls, '__name__', cls)} is not an aggregate registered with domain {domain.name!r}"
        )
    if not cls._meta.get("is_event_sourced"):
        raise IncorrectUsageError(
            f"{cls.__name__} is not event-sourced: only aggregates declared with "
            "is_event_sourced=True have snapshots"
        )


def create_snapshot(domain: DomainLike, cls: Any, identity: Any) -> bool:
    """Snapshot one aggregate from a full replay of its stream (ignoring older snapshots).

    Raises ``ObjectNotFound`` when the aggregate has no events.
    """
    _check_event_sourced(domain, cls)
    stream = f"{cls._meta.stream_category}-{identity}"
    stored = domain.providers.event_store.read_stream(stream)
    if not stored:
        raise ObjectNotFound(f"{cls.__name__} with identity {identity!r} has no events")
    obj = apply_events(fresh_aggregate(cls, identity), [decode_stored(domain, s) for s in stored])
    return write_snapshot(domain, snapshot_of(obj))


def aggregate_identities(domain: DomainLike, cls: Any) -> Iterator[str]:
    """The identities of every stored ``cls`` aggregate, in order of first event."""
    _check_event_sourced(domain, cls)
    category = cls._meta.stream_category
    prefix = f"{category}-"
    store = domain.providers.event_store
    seen: set[str] = set()
    after = 0
    while True:
        page = store.read_category(category, after_global=after, limit=_PAGE)
        for stored in page:
            stream = str(stored["metadata"].get("stream") or "")
            if stream.startswith(prefix) and stream not in seen:
                seen.add(stream)
                yield stream[len(prefix) :]
        if len(page) < _PAGE:
            return
        after = int(page[-1]["metadata"]["global_position"])


def create_snapshots(
    domain: DomainLike, cls: Any, progress: Callable[[int], None] | None = None
) -> int:
    """Snapshot every aggregate of ``cls``; return how many snapshots were written.

    ``progress(n)`` is called after each aggregate (for progress bars).
    """
    count = 0
    for identity in aggregate_identities(domain, cls):
        if create_snapshot(domain, cls, identity):
            count += 1
        if progress is not None:
            progress(1)
    return count


def create_all_snapshots(domain: DomainLike) -> dict[str, int]:
    """Snapshot every aggregate of every event-sourced class: ``{class name: count}``."""
    return {
        cls.__name__: create_snapshots(domain, cls)
        for cls in domain.registry.of_kind("aggregate").values()
        if cls._meta.get("is_event_sourced")
    }
