"""Pruning processed-message records (``archipel idempotency cleanup``, Protean's command).

archipel's consume-side idempotency markers are its processed-message
records: ``(subscription, message_id, processed_at)`` in the default
database, written in the transaction of every handling by ``archipel
server`` (every subscription, not only Protean's ``idempotent=True``
projectors) and by ``idempotent`` handlers run inline. A record matters only
while its message can arrive again:

- a broker redelivery (an entry handled but not yet acknowledged when its
  worker stopped) comes within the lease and reclaim times: seconds, minutes;
- a subscription catching up from the event store (see
  :mod:`archipel.engine.catchup`) meets again what it handled since its
  catch-up began; an interrupted catch-up (record ``running``) is run again
  from the start. Records of subscriptions with a catch-up ``running`` are
  therefore never pruned, whatever their age; a finished catch-up is never
  run again;
- a projection rebuild writes fresh records for what it replays.

So records older than the retention — Protean's ``[consume_idempotency.cleanup]
retention_hours``, 168 (7 days) unless set, at least :data:`MIN_RETENTION_HOURS`
— are deleted, ``batch_size`` (5000) per short transaction. The memory
database keeps records in its process only: there is nothing to prune from
another process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archipel.core.queryset import Criteria
from archipel.engine.catchup import catchup_schema
from archipel.errors import ConfigurationError, SchemaMissingError
from archipel.utils.query import Q

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_RETENTION_HOURS",
    "MIN_RETENTION_HOURS",
    "MarkerCleanup",
    "cleanup_processed_messages",
    "cleanup_settings",
]

DEFAULT_RETENTION_HOURS = 168
DEFAULT_BATCH_SIZE = 5000
#: younger records may still be needed by a redelivery in flight
MIN_RETENTION_HOURS = 1


@dataclass
class MarkerCleanup:
    """What :func:`cleanup_processed_messages` did."""

    deleted: int = 0
    batches: int = 0
    retention_hours: int = DEFAULT_RETENTION_HOURS
    batch_size: int = DEFAULT_BATCH_SIZE
    #: epoch seconds: records written before it were deleted
    before: float = 0.0
    #: subscriptions whose records were kept (a catch-up running)
    kept: list[str] = field(default_factory=list)
    #: False when the database keeps no records another process can prune (memory)
    supported: bool = True


def _positive(table: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(
            f"[consume_idempotency.cleanup] {key} = {value!r}: expected a whole number >= {minimum}"
        )
    return value


def cleanup_settings(config: Mapping[str, Any]) -> tuple[int, int]:
    """``(retention_hours, batch_size)`` from ``[consume_idempotency.cleanup]`` (checked)."""
    section = config.get("consume_idempotency") or {}
    if not isinstance(section, Mapping):
        raise ConfigurationError("[consume_idempotency] must be a table (with a [cleanup] table)")
    cleanup = section.get("cleanup") or {}
    if not isinstance(cleanup, Mapping):
        raise ConfigurationError("[consume_idempotency.cleanup] must be a table")
    unknown = sorted(set(cleanup) - {"retention_hours", "batch_size"})
    if unknown:
        raise ConfigurationError(
            f"[consume_idempotency.cleanup] has unknown key(s) {', '.join(unknown)}: "
            "it takes retention_hours and batch_size"
        )
    return (
        _positive(cleanup, "retention_hours", DEFAULT_RETENTION_HOURS, MIN_RETENTION_HOURS),
        _positive(cleanup, "batch_size", DEFAULT_BATCH_SIZE, 1),
    )


def _catching_up(domain: Any) -> list[str]:
    """The subscriptions with a catch-up ``running`` (or interrupted)."""
    tx = domain.providers.database("default").begin()
    try:
        rows, _ = tx.query(catchup_schema(domain), Criteria(Q(state="running")))
    except SchemaMissingError:
        return []  # no catch-up ever ran here
    finally:
        tx.rollback()
    return sorted(str(row["id"]) for row in rows)


def cleanup_processed_messages(
    domain: Any,
    retention_hours: int | None = None,
    batch_size: int | None = None,
    now: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> MarkerCleanup:
    """Delete processed-message records older than the retention (see the module).

    Arguments left None come from ``[consume_idempotency.cleanup]``. Call it in the
    domain's context; ``progress(deleted so far)`` after each batch.
    """
    configured_hours, configured_batch = cleanup_settings(domain.config)
    hours = configured_hours if retention_hours is None else retention_hours
    size = configured_batch if batch_size is None else batch_size
    if hours < MIN_RETENTION_HOURS or size < 1:
        raise ConfigurationError(
            f"retention of {hours} hour(s), batches of {size}: the retention must be at least "
            f"{MIN_RETENTION_HOURS} hour (younger records may still be needed by a redelivery) "
            "and a batch at least 1 record"
        )
    found = MarkerCleanup(retention_hours=hours, batch_size=size)
    found.before = (time.time() if now is None else now) - hours * 3600.0
    database = domain.providers.database("default")
    prune = getattr(database, "prune_processed", None)
    if prune is None:
        found.supported = False
        return found
    found.kept = _catching_up(domain)
    try:
        for deleted in prune(found.before, size, found.kept):
            found.deleted += deleted
            found.batches += 1
            if progress is not None:
                progress(found.deleted)
    except SchemaMissingError:
        pass  # never set up: no records
    return found
