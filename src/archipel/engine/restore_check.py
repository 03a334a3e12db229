"""After an event-store restore: the recorded positions and dead letters the restore made stale.

``archipel recover`` (Protean's ``protean recover``) reads these. Protean's
event-store subscriptions keep a checkpoint (the global position they read up
to) in the event store; a restore from an older backup can leave one past the
restored head, and that subscription then skips every new event up to it.
archipel's live delivery keeps no such checkpoint: the outbox relays events to
the broker and each subscription reads the broker, recognising what it handled
by message id, so a restore never makes it skip new events. What archipel does
record about the event store, per subscription and per projection, is:

- the **catch-up record** of every event handler, projector and process manager
  (``archipel_<domain>_catchups``, :mod:`archipel.engine.catchup`): the global
  position its catch-up from the event store reached;
- the **rebuild record** of every projection (``archipel_<domain>_projection_rebuilds``,
  :mod:`archipel.handling.rebuild`): the global position its last rebuild reached.

A position past the restored head of the subscription's categories says its state
(a projection's rows, a process manager's state, a handler's effects) was built
from events the restored store no longer holds. These are the *checkpoints* here;
a subscription without a record reads ``-1`` (Protean's "no checkpoint written").

Protean's second finding, *recovery-tracking entries* (failed positions a
subscription's recovery pass re-reads), maps onto archipel's **dead letters**:
a dead letter of a message the restored store no longer holds would, once
replayed, run its handler on an event that no longer exists. Such letters are
*stale*; a letter whose stream cannot be read is *unknown*.

Reading never writes (no table is created); :func:`reset_checkpoint` snaps a
record's position to the head, :func:`clear_stale_letters` purges stale letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archipel.engine.catchup import CATCH_UP_KINDS, catchup_schema
from archipel.engine.dlq import DeadLetterStore
from archipel.engine.records import dead_letter_schema
from archipel.engine.subscriptions import all_subscriptions
from archipel.errors import SchemaMissingError
from archipel.handling.rebuild import (
    projection_categories,
    projector_routes,
    rebuild_records,
    rebuild_schema,
)

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.port.schema import ModelSchema

__all__ = [
    "CheckpointStatus",
    "RecoveryFinding",
    "checkpoint_statuses",
    "clear_stale_letters",
    "recovery_findings",
    "reset_checkpoint",
]

#: the kinds of record a checkpoint is read from
CATCH_UP, PROJECTION_REBUILD = "catch_up", "projection_rebuild"


@dataclass
class CheckpointStatus:
    """One recorded event-store position and the head of the categories it reads.

    Positions are text, as Protean's (``"-1"``: no record; ``None``: could not be read).
    """

    name: str
    handler_name: str
    categories: list[str]
    record: str
    current_position: str | None
    head_position: str | None

    @property
    def stream_category(self) -> str:
        return ", ".join(self.categories)


@dataclass
class RecoveryFinding:
    """The dead letters of one subscription whose message the restored store no longer holds."""

    name: str
    handler_name: str
    categories: list[str]
    table: str
    head_position: int | None
    #: ``"stale"`` (some letters name a vanished message) or ``"unknown"`` (could not tell)
    verdict: str
    #: global positions of the vanished messages, where the letter carries one
    stale_positions: list[int] = field(default_factory=list)
    stale_letters: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def stream_category(self) -> str:
        return ", ".join(self.categories)


def _store_heads(domain: Domain, categories: list[str]) -> int | None:
    """The highest global position stored in ``categories`` (0: none), None if unknown."""
    store = domain.providers.event_store
    head = getattr(store, "head", None)
    if head is None:
        return None  # a third-party store that cannot tell its head
    try:
        return max((int(head(category)) for category in categories), default=0)
    except Exception:  # an unreachable store: the verdict is "unknown", not a crash
        return None


def _read(domain: Domain, schema: ModelSchema, identity: str) -> dict[str, Any] | None:
    tx = domain.providers.database("default").begin()
    try:
        found: dict[str, Any] | None = tx.get(schema, identity)
        return found
    except SchemaMissingError:
        return None  # never set up: no record (and reading creates no table)
    finally:
        tx.rollback()


def _event_subscriptions(domain: Domain) -> list[Any]:
    return [sub for sub in all_subscriptions(domain) if sub.kind in CATCH_UP_KINDS]


def checkpoint_statuses(domain: Domain) -> list[CheckpointStatus]:
    """Every catch-up record position (one per event-reading subscription, ``-1`` when
    there is none) and every projection's rebuild record position, with their heads."""
    statuses: list[CheckpointStatus] = []
    catchups = catchup_schema(domain)
    for sub in _event_subscriptions(domain):
        head = _store_heads(domain, sub.categories)
        try:
            found = _read(domain, catchups, sub.name)
            current: str | None = "-1" if found is None else _text(found.get("position"))
        except Exception:  # the database is unreachable: unknown
            current = None
        statuses.append(CheckpointStatus(
            sub.name, sub.handler_cls.__name__, list(sub.categories), CATCH_UP, current,
            None if head is None else str(head),
        ))
    try:
        rebuilt: dict[str, dict[str, Any]] | None = rebuild_records(domain)
    except Exception:  # unreadable: every projection's record is unknown, not absent
        rebuilt = None
    for cls in domain.registry.of_kind("projection").values():
        record = None if rebuilt is None else rebuilt.get(cls.__name__)
        if (rebuilt is not None and record is None) or not projector_routes(domain, cls):
            continue  # never rebuilt: its projectors' catch-up records stand for it
        categories = projection_categories(domain, cls)
        head = _store_heads(domain, categories)
        statuses.append(CheckpointStatus(
            f"projection:{cls.__name__}", cls.__name__, categories, PROJECTION_REBUILD,
            None if record is None else _text(record.get("position")), None if head is None else str(head),
        ))
    return statuses


def _text(position: Any) -> str | None:
    return None if position is None else str(position)


def reset_checkpoint(domain: Domain, status: CheckpointStatus) -> int:
    """Snap the record behind ``status`` back to its head; return the new position.

    Raises when the record cannot be written (or vanished, or its head is unknown):
    the caller reports it and moves on.
    """
    if status.head_position is None:
        raise ValueError(f"{status.name}: the head of {status.stream_category} is unknown")
    head = int(status.head_position)
    schema, identity = (
        (catchup_schema(domain), status.name) if status.record == CATCH_UP
        else (rebuild_schema(domain), status.handler_name)
    )
    tx = domain.providers.database("default").begin()
    try:
        found = tx.get(schema, identity)
        if found is None:
            raise LookupError(f"{status.name}: its {status.record.replace('_', '-')} record is gone")
        record = {key: value for key, value in found.items() if key != "_version"}
        record["position"] = head
        tx.save(schema, record, int(found["_version"]))
        tx.commit()
    except BaseException:
        tx.rollback()
        raise
    return head


def _holds(store: Any, stream: str, message_id: str) -> bool:
    return any(
        str((stored.get("metadata") or {}).get("id")) == message_id for stored in store.read_stream(stream)
    )


def recovery_findings(domain: Domain) -> list[RecoveryFinding]:
    """Per event-reading subscription with dead letters: the ones naming a vanished message.

    Only subscriptions with a stale letter, or whose letters could not be checked,
    appear (``verdict`` ``"stale"`` / ``"unknown"``).
    """
    letters = DeadLetterStore(domain, create_tables=False)
    table = dead_letter_schema(domain).table
    store = domain.providers.event_store
    findings: list[RecoveryFinding] = []
    for sub in _event_subscriptions(domain):
        try:
            found = letters.list(sub.name, limit=None)
        except Exception as exc:
            findings.append(RecoveryFinding(
                sub.name, sub.handler_cls.__name__, list(sub.categories), table, None, "unknown",
                error=f"{type(exc).__name__}: {exc}",
            ))
            continue
        if not found:
            continue
        finding = RecoveryFinding(
            sub.name, sub.handler_cls.__name__, list(sub.categories), table,
            _store_heads(domain, sub.categories), "stale",
        )
        try:
            for letter in found:
                if not letter.stream:
                    raise LookupError(f"dead letter {letter.id} names no stream")
                if _holds(store, letter.stream, letter.message_id):
                    continue
                finding.stale_letters.append(letter.id)
                position = (letter.payload.get("metadata") or {}).get("global_position")
                if isinstance(position, int):
                    finding.stale_positions.append(position)
        except Exception as exc:
            finding.verdict, finding.error = "unknown", f"{type(exc).__name__}: {exc}"
            finding.stale_letters, finding.stale_positions = [], []
        finding.stale_positions.sort()
        if finding.verdict == "unknown" or finding.stale_letters:
            findings.append(finding)
    return findings


def clear_stale_letters(domain: Domain, finding: RecoveryFinding) -> list[str]:
    """Purge the stale dead letters of ``finding``; return the ids purged."""
    letters = DeadLetterStore(domain, create_tables=False)
    return [letter_id for letter_id in finding.stale_letters if letters.purge(letter_id)]
