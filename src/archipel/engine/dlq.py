"""The dead-letter queue: messages a subscription gave up on, kept for inspection and replay.

One model for every consumer kind (command handlers, event handlers,
projectors, process managers, subscribers), stored in the domain's default
database (``archipel_<domain>_dead_letters``), so it works on memory, SQLite
and PostgreSQL alike. A message lands here when its handler raised an error
that retrying cannot fix (at once), or after ``max_retries`` failed retries of
a transient one (:mod:`.classify`); with ``park_after_dead_letter`` (the
default) later messages of the same aggregate for the same subscription are
*parked* here too (``error`` says behind which dead letter), so replaying
keeps the aggregate's order.

Replay publishes the message again through the domain's broker, on the
stream its subscription reads, marked for that one subscription (other
subscriptions of the stream skip it), and deletes the row only once the
broker has accepted the message: a crash in between leaves both, and the
second copy is absorbed by the subscription's processed-message records — a
duplicate, never a loss. ``replay_all`` replays in the order the messages
failed, so per aggregate the original order is kept. A replayed message that
fails again comes back as a *new* dead letter (each replay carries its own
id), so deleting the replayed row can never delete the new failure.

From another process than the server's (``archipel dlq replay``), replay
needs a broker that process reaches: with the in-process inline broker it
raises :class:`~archipel.errors.BrokerNotShared` and keeps the letter.

Reading (``list``, ``get``, ``count``) never creates tables: on a database
that was never set up it finds nothing.
"""

from __future__ import annotations

import builtins
import datetime as dt
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archipel.core.queryset import Criteria
from archipel.engine.records import dead_letter_schema, ensure_tables
from archipel.errors import BrokerNotShared, ExpectedVersionError, SchemaMissingError
from archipel.utils.query import Q

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = [
    "DeadLetter",
    "DeadLetterStore",
    "dead_letter_store",
    "REPLAY_HEADER",
    "RAW_REPLAY_KEY",
    "replay_target",
    "REPLAY_ID_HEADER",
    "shared_between_processes",
    "dead_letter_id",
    "dead_letter_id_of",
]

#: metadata header naming the only subscription a replayed message is for
REPLAY_HEADER = "archipel_replay_for"
#: raw (subscriber) payloads are wrapped: {RAW_REPLAY_KEY: subscription, "payload": original}
RAW_REPLAY_KEY = "__archipel_replay_for__"
#: metadata header with the id of one replay: a failure of the replayed message is a new dead letter
REPLAY_ID_HEADER = "archipel_replay_id"
#: letters replayed per broker round trip (each chunk deleted once the broker accepted it)
_REPLAY_CHUNK = 200
_NAMESPACE = uuid.UUID("6f1c2c1e-5d1b-4e58-9a51-4b0f1f2d7a10")


def _when(epoch: Any) -> dt.datetime | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(float(epoch), tz=dt.UTC)


@dataclass(slots=True)
class DeadLetter:
    """One dead-lettered (or parked) message of one subscription."""

    id: str
    subscription: str
    message_id: str
    type: str | None
    stream: str | None
    payload: dict[str, Any]
    error: str | None
    attempts: int
    first_failed_at: dt.datetime | None
    last_failed_at: dt.datetime | None
    broker_stream: str | None = None
    parked_behind: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DeadLetter:
        return cls(
            id=record["id"],
            subscription=record["subscription"],
            message_id=record["message_id"],
            type=record.get("type"),
            stream=record.get("stream"),
            payload=dict(record.get("payload") or {}),
            error=record.get("error"),
            attempts=int(record.get("attempts") or 0),
            first_failed_at=_when(record.get("first_failed_at")),
            last_failed_at=_when(record.get("last_failed_at")),
            broker_stream=record.get("broker_stream"),
            parked_behind=record.get("parked_behind"),
        )


def dead_letter_id(subscription: str, message_id: str, replay_id: str | None = None) -> str:
    """Stable id: a redelivered failure updates its row instead of adding one.

    A replayed message (``replay_id``: :data:`REPLAY_ID_HEADER`) that fails
    again gets another id than the letter it was replayed from.
    """
    suffix = f"\x00{replay_id}" if replay_id else ""
    return str(uuid.uuid5(_NAMESPACE, f"{subscription}\x00{message_id}{suffix}"))


def dead_letter_id_of(subscription: str, message_id: str, payload: dict[str, Any]) -> str:
    """The id :meth:`DeadLetterStore.add` gives a failure of this message (payload as stored)."""
    return dead_letter_id(subscription, message_id, _replay_id(payload))


def _replay_id(payload: dict[str, Any]) -> str | None:
    meta = payload.get("metadata")
    headers = meta.get("headers") if isinstance(meta, dict) else None
    if isinstance(headers, dict) and headers.get(REPLAY_ID_HEADER):
        return str(headers[REPLAY_ID_HEADER])
    return None


def shared_between_processes(broker: Any) -> bool:
    """Whether another process with the same configuration reaches ``broker``'s streams.

    False for the inline broker (its streams live in one process); brokers
    that do not say are assumed shared (see :mod:`archipel.port.broker`).
    """
    return bool(getattr(broker, "shared_between_processes", True))


def replay_target(payload: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """``(subscription the payload is replayed for, payload without the marker)``."""
    if RAW_REPLAY_KEY in payload:
        inner = payload.get("payload")
        return str(payload[RAW_REPLAY_KEY]), inner if isinstance(inner, dict) else {}
    meta = payload.get("metadata")
    if isinstance(meta, dict):
        headers = meta.get("headers")
        if isinstance(headers, dict) and REPLAY_HEADER in headers:
            return str(headers[REPLAY_HEADER]), payload
    return None, payload


def _mark_for(payload: dict[str, Any], subscription: str) -> dict[str, Any]:
    meta = payload.get("metadata")
    if isinstance(meta, dict) and "data" in payload:
        headers = dict(meta.get("headers") or {})
        headers[REPLAY_HEADER] = subscription
        headers[REPLAY_ID_HEADER] = uuid.uuid4().hex
        return {**payload, "metadata": {**meta, "headers": headers}}
    return {RAW_REPLAY_KEY: subscription, "payload": payload}


class DeadLetterStore:
    """Dead letters of one domain (see the module docstring)."""

    def __init__(self, domain: Domain, *, create_tables: bool = True) -> None:
        """The store of ``domain``; ``create_tables``: create the table first (the server does)."""
        if create_tables:
            ensure_tables(domain)
        self.domain = domain
        self.schema = dead_letter_schema(domain)
        self.database = domain.providers.database("default")

    # -- reading ---------------------------------------------------------------
    def _query(self, q: Q, limit: int | None = None) -> tuple[builtins.list[dict[str, Any]], int]:
        tx = self.database.begin()
        try:
            return tx.query(self.schema, Criteria(q, order_by=("sequence",), limit=limit))  # type: ignore[no-any-return]
        except SchemaMissingError:
            return [], 0  # never set up: no dead letters yet
        finally:
            tx.rollback()

    def list(self, subscription: str | None = None, limit: int | None = 100) -> builtins.list[DeadLetter]:
        """Dead letters (of one subscription), oldest failure first (``limit=None``: all)."""
        q = Q(subscription=subscription) if subscription else Q()
        rows, _ = self._query(q, limit)
        return [DeadLetter.from_record(r) for r in rows]

    def get(self, letter_id: str) -> DeadLetter | None:
        """The dead letter ``letter_id``, or None (also before the table exists)."""
        tx = self.database.begin()
        try:
            found = tx.get(self.schema, letter_id)
        except SchemaMissingError:
            found = None
        finally:
            tx.rollback()
        return DeadLetter.from_record(found) if found is not None else None

    def count(self, subscription: str | None = None) -> int:
        q = Q(subscription=subscription) if subscription else Q()
        _, total = self._query(q, 0)
        return int(total)

    def dead_keys(self, subscription: str) -> dict[str, str]:
        """Aggregate streams with an unresolved dead letter: stream -> oldest letter id."""
        rows, _ = self._query(Q(subscription=subscription))
        keys: dict[str, str] = {}
        from archipel.engine.streams import aggregate_key

        for row in rows:
            if row.get("stream"):
                # the same key the consumer orders by (a command's stream names its aggregate too)
                keys.setdefault(aggregate_key(row["stream"]), row.get("parked_behind") or row["id"])
        return keys

    # -- writing ----------------------------------------------------------------
    def add(
        self,
        *,
        subscription: str,
        message_id: str,
        type: str | None,
        stream: str | None,
        broker_stream: str | None,
        payload: dict[str, Any],
        error: str,
        attempts: int,
        first_failed_at: float | None = None,
        parked_behind: str | None = None,
    ) -> str:
        """Record a failure; a second failure of the same message updates its row. Returns the id."""
        letter_id = dead_letter_id(subscription, message_id, _replay_id(payload))
        now = time.time()
        record = {
            "id": letter_id,
            "subscription": subscription,
            "message_id": message_id,
            "type": type,
            "stream": stream,
            "broker_stream": broker_stream,
            "payload": payload,
            "error": error[:20000],
            "attempts": attempts,
            "first_failed_at": first_failed_at or now,
            "last_failed_at": now,
            "parked_behind": parked_behind,
            "sequence": time.time_ns(),
        }
        for _ in range(5):
            tx = self.database.begin()
            try:
                found = tx.get(self.schema, letter_id)
                if found is None:
                    tx.save(self.schema, record, -1)
                else:
                    record["first_failed_at"] = found.get("first_failed_at") or record["first_failed_at"]
                    record["sequence"] = found.get("sequence") or record["sequence"]
                    record["attempts"] = int(found.get("attempts") or 0) + attempts
                    tx.save(self.schema, record, int(found["_version"]))
                tx.commit()
                return letter_id
            except ExpectedVersionError:
                tx.rollback()  # concurrent writer: read again
            except BaseException:
                tx.rollback()
                raise
        raise ExpectedVersionError(f"dead letter {letter_id} kept changing concurrently")

    def _delete(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        tx = self.database.begin()
        try:
            done = sum(1 for letter_id in ids if tx.delete(self.schema, letter_id))
            tx.commit()
        except SchemaMissingError:
            tx.rollback()
            return 0
        except BaseException:
            tx.rollback()
            raise
        return done

    def purge(self, letter_id: str) -> bool:
        """Delete one dead letter for good."""
        return self._delete([letter_id]) > 0

    def purge_all(self, subscription: str | None = None) -> int:
        """Delete every dead letter (of one subscription)."""
        q = Q(subscription=subscription) if subscription else Q()
        rows, _ = self._query(q)
        return self._delete([r["id"] for r in rows])

    # -- replaying ----------------------------------------------------------------
    def _broker(self) -> Any:
        return self.domain.providers.broker("default")

    def _target_stream(self, letter: DeadLetter) -> str:
        if letter.broker_stream:
            return letter.broker_stream
        from archipel.engine.settings import EngineSettings
        from archipel.engine.streams import broker_stream, category_of, partition_of

        settings = EngineSettings.from_config(self.domain.config)
        stream = letter.stream or ""
        return broker_stream(
            category_of(stream), partition_of(stream, settings.partitions), settings.partitions
        )

    def _check_reachable(self, from_another_process: bool) -> Any:
        broker = self._broker()
        if from_another_process and not shared_between_processes(broker):
            provider = (self.domain.config.get("brokers") or {}).get("default", {}).get("provider")
            raise BrokerNotShared(
                f"domain {self.domain.name}: the default broker ({provider!r}) lives inside the "
                "server's process, so this process cannot hand a message to its consumers; "
                "the dead letter is kept. Configure a broker that processes share "
                '([brokers.default] provider = "database" or "redis"), or replay from '
                "the server's process (archipel shell)"
            )
        return broker

    def replay(self, letter_id: str, *, from_another_process: bool = False) -> bool:
        """Publish one dead letter again for its subscription, then delete it; False if unknown.

        The row is deleted only after the broker accepted the message (see
        the module docstring). ``from_another_process`` (the CLI): raise
        :class:`~archipel.errors.BrokerNotShared`, keeping the letter, when
        the broker cannot be reached from another process than the server's.
        """
        letter = self.get(letter_id)
        if letter is None:
            return False
        broker = self._check_reachable(from_another_process)
        broker.publish(self._target_stream(letter), _mark_for(letter.payload, letter.subscription))
        self._delete([letter.id])
        return True

    def replay_all(
        self,
        subscription: str | None = None,
        *,
        from_another_process: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Replay every dead letter (of one subscription) in failure order; return how many.

        In chunks: each chunk is published, then deleted, so an error stops
        the replay with every letter not yet published still kept.
        ``progress(done, total)`` is called after each chunk.
        """
        q = Q(subscription=subscription) if subscription else Q()
        rows, _ = self._query(q)
        letters = [DeadLetter.from_record(r) for r in rows]
        if not letters:
            return 0
        broker = self._check_reachable(from_another_process)
        for start in range(0, len(letters), _REPLAY_CHUNK):
            chunk = letters[start : start + _REPLAY_CHUNK]
            broker.publish_many([(self._target_stream(x), _mark_for(x.payload, x.subscription)) for x in chunk])
            self._delete([x.id for x in chunk])
            if progress is not None:
                progress(start + len(chunk), len(letters))
        return len(letters)


def dead_letter_store(domain: Domain) -> DeadLetterStore:
    """The dead-letter store of ``domain`` (``list``/``get``/``replay``/``replay_all``/``purge``/``purge_all``).

    Creates no table: on a database the server never set up it reads as empty.
    """
    if not domain.initialized:
        domain.init()
    return DeadLetterStore(domain, create_tables=False)
