"""``domain.event_store.store``: the event store read the way Protean's is.

Protean's programs and tests read events as ``domain.event_store.store.read(stream)``
(a stream ``category-id``, a category, or ``"$all"``) and get ``Message`` objects
(``message.data``, ``message.metadata.headers.type``,
``message.to_domain_object()``). archipel's event store *is* ``domain.event_store``;
its ``store`` is this view over it, with Protean's names and positions
(``position`` is inclusive: the first message to return).

Protean's tests also write through it: ``store.append(aggregate._events[-1])`` stores
a raised event (or a processed command) as a unit of work would — with its outbox
row when the outbox is on, so ``archipel server`` delivers it — and returns its
position in its stream. Appends are idempotent by message id, as every archipel
write: appending the same event again stores nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archipel.errors import IncorrectUsageError, NotSupportedError, ObjectNotFoundError

if TYPE_CHECKING:
    from archipel.utils.eventing import Message

__all__ = ["ProteanStore"]

ALL = "$all"


class ProteanStore:
    """Protean's event store reads over an archipel event store."""

    __slots__ = ("_store",)

    def __init__(self, store: Any) -> None:
        self._store = store

    @staticmethod
    def category(stream: str) -> str:
        """The category of ``stream`` (the part before the first ``-``)."""
        return stream.partition("-")[0] if stream else ""

    def _read(
        self, stream: str, sql: str | None = None, position: int = 0, no_of_messages: int = 1000
    ) -> list[dict[str, Any]]:
        """The stored messages (dicts) of ``stream`` from ``position`` on, at most ``no_of_messages``."""
        if sql is not None:
            raise NotSupportedError("archipel's event store reads take no SQL: pass the stream")
        if no_of_messages < 0 or position < 0:
            raise IncorrectUsageError("position and no_of_messages are whole numbers >= 0")
        store = self._store
        after = max(position - 1, 0)  # positions here are inclusive, archipel's reads exclusive
        if stream == ALL:
            rows = store.read_all(after_global=after, limit=no_of_messages)
        elif stream == self.category(stream):
            rows = store.read_category(stream, after_global=after, limit=no_of_messages)
        else:
            rows = store.read_stream(stream, from_position=position)[:no_of_messages]
        return [row for row in rows if not _is_snapshot(row)]

    def read(
        self, stream: str, sql: str | None = None, position: int = 0, no_of_messages: int = 1000
    ) -> list[Message]:
        """The messages of ``stream`` (a ``category-id`` stream, a category or ``"$all"``)."""
        from archipel.utils.eventing import Message

        return [Message.from_dict(row) for row in self._read(stream, sql, position, no_of_messages)]

    def read_last_message(self, stream: str) -> Message | None:
        """The latest message of a ``category-id`` stream, or None."""
        from archipel.utils.eventing import Message

        reader = getattr(self._store, "read_last", None)
        if reader is not None and stream != self.category(stream):
            row = reader(stream)
        else:
            rows = self._read(stream, no_of_messages=1_000_000)
            row = rows[-1] if rows else None
        return None if row is None or _is_snapshot(row) else Message.from_dict(row)

    def append(self, object: Any) -> int:  # noqa: A002 (Protean's parameter name)
        """Store one raised event or processed command; its position in its stream.

        The message needs its stream: an event raised with ``aggregate.raise_`` or a
        command given to ``domain.process`` (IncorrectUsageError otherwise). A
        message with no correlation id starts its own chain (its id). A position
        another message took is an ``ExpectedVersionError``.
        """
        meta = getattr(object, "_metadata", None)
        options = getattr(type(object), "_meta", None)
        if meta is None or options is None or options.kind not in ("event", "command"):
            raise IncorrectUsageError(
                f"event_store.store.append() takes an event or a command, not {type(object).__name__}"
            )
        name = type(object).__name__
        domain = options.domain
        if domain is None:
            raise IncorrectUsageError(f"{name} is not registered with a domain: register it first")
        if domain.providers.event_store is not self._store:
            raise IncorrectUsageError(
                f"{name} belongs to domain {domain.name!r}: append it to that domain's event store"
            )
        if not meta.stream:
            how = "raise it from its aggregate (aggregate.raise_(event))" if options.kind == "event" \
                else "process it (domain.process(command))"
            raise IncorrectUsageError(f"{name} has no stream yet: {how} before appending it")
        values = meta.__dict__
        if values.get("correlation_id") is None:
            values["correlation_id"] = meta.id  # a root message: its own chain
        stored = self._stored_position(meta)
        if stored is not None:
            return stored  # already stored (appends are idempotent): no second outbox row
        transaction = domain.providers.database("default").begin()
        try:
            self._store.append([object], transaction=transaction)
            if options.kind == "event":  # as a unit of work's commit: outbox and integration rows
                rows = domain.outbox_records([object]) if domain._outbox_enabled else []
                if domain._integration_broker is not None:
                    rows += domain.integration_records([object])
                if rows:
                    transaction.add_outbox(rows)
            transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
        return int(meta.position) if meta.position is not None else self._position_of(meta)

    def _position_of(self, meta: Any) -> int:
        """The stored position of a message appended without one (a command)."""
        found = self._stored_position(meta)
        if found is None:
            raise IncorrectUsageError(f"message {meta.id} is not in stream {meta.stream!r}")
        return found

    def _stored_position(self, meta: Any) -> int | None:
        """The position of the stored message with ``meta.id`` in its stream, or None."""
        position = meta.position
        rows = self._store.read_stream(meta.stream, from_position=position or 0, to_position=position)
        for row in rows:
            if row["metadata"].get("id") == meta.id:
                return int(row["metadata"]["position"])
        return None

    def load_aggregate(
        self, part_of: type, identifier: str, *, at_version: int | None = None, as_of: Any = None
    ) -> Any:
        """The event-sourced aggregate rebuilt from its events (None when it has none)."""
        domain = part_of._meta.domain  # type: ignore[attr-defined]
        repository = domain.repository_for(part_of)
        try:
            return repository.get(identifier, at_version=at_version, as_of=as_of)
        except ObjectNotFoundError:
            if at_version is not None or as_of is not None:
                raise
            return None


def _is_snapshot(row: dict[str, Any]) -> bool:
    metadata = row.get("metadata") or {}
    return str(metadata.get("type") or "").endswith(".snapshot")
