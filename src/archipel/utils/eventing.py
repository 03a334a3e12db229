"""Message envelopes (Protean's ``protean.utils.eventing``).

- :class:`Metadata`: the envelope of every command and event (``id``,
  ``type``, ``stream``, ``time``, ``correlation_id``, ``causation_id``,
  ``version``, ``headers``, ...), on ``message._metadata``.
- :class:`Message`: one message as stored and sent, ``{"metadata", "data"}``;
  :meth:`Message.to_domain_object` turns it back into its command or event.
- :class:`MessageType`: ``COMMAND`` or ``EVENT`` (``metadata.kind``).
- :data:`MessageHeaders`: the type of ``metadata.headers`` (a dict also read as
  Protean's: ``headers.time``, ``headers.idempotency_key``).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from archipel.core.envelope_views import Headers
from archipel.core.message import BaseMessage, Metadata, class_envelope
from archipel.errors import DeserializationError, IncorrectUsageError
from archipel.handling.decoding import message_from_stored
from archipel.utils.globals import active_domain

__all__ = ["BaseMessage", "Message", "MessageHeaders", "MessageType", "Metadata", "StoredMetadata"]

#: ``metadata.headers``: free-form string keys (trace context, tenant, ...), also read
#: as Protean's ``MessageHeaders`` (``headers.id``, ``.time``, ``.idempotency_key``)
MessageHeaders = Headers


class MessageType(Enum):
    """The kind of a message (``metadata.kind``)."""

    COMMAND = "COMMAND"
    EVENT = "EVENT"


class StoredMetadata(dict[str, Any]):
    """A stored message's envelope: a dict (``metadata["type"]``), also read as
    Protean's nested ``Metadata`` (``metadata.headers.type``, ``metadata.kind``,
    ``metadata.event_store.global_position``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        envelope = Metadata.from_dict(self)
        if name == "domain":  # ``domain.fqn``: the active domain's class of this type
            router = getattr(active_domain(), "router", None)
            cls = router.messages.get(self.get("type")) if router is not None else None
            if cls is not None:
                class_envelope(envelope, cls)
        return getattr(envelope, name)

    def __reduce__(self) -> Any:
        return (dict, (dict(self),))


class Message:
    """A message in its stored form: ``metadata`` (the envelope, a dict also read with
    attributes, see :class:`StoredMetadata`) and ``data`` (the payload)."""

    __slots__ = ("metadata", "data")

    def __init__(self, metadata: dict[str, Any], data: dict[str, Any]) -> None:
        self.metadata = StoredMetadata(metadata)
        self.data = data

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Message:
        """Wrap a stored message (``{"metadata": {...}, "data": {...}}``)."""
        return cls(dict(stored.get("metadata") or {}), dict(stored.get("data") or {}))

    #: Protean's name for :meth:`from_dict`
    deserialize = from_dict

    @property
    def stream_name(self) -> str | None:
        """The stream the message was written to."""
        return self.metadata.get("stream")  # type: ignore[no-any-return]

    @property
    def position(self) -> int | None:
        """The message's position in its stream."""
        return self.metadata.get("position")  # type: ignore[no-any-return]

    @property
    def global_position(self) -> int | None:
        """The message's position in the whole store."""
        return self.metadata.get("global_position")  # type: ignore[no-any-return]

    @classmethod
    def from_domain_object(cls, message: BaseMessage) -> Message:
        """The stored form of a command or event."""
        return cls.from_dict(message.to_message())

    def to_dict(self) -> dict[str, Any]:
        """``{"metadata": ..., "data": ...}``, as the event store keeps it."""
        return {"metadata": dict(self.metadata), "data": dict(self.data)}

    def to_domain_object(self) -> Any:
        """The command or event (upcast when older), using the active domain's classes.

        Raises ``DeserializationError`` when the domain has no class for its type.
        """
        domain = active_domain()
        if domain is None:
            raise IncorrectUsageError(
                "Message.to_domain_object() reads the active domain's classes: "
                "call it inside `with domain.domain_context():`"
            )
        obj = message_from_stored(domain, self.to_dict())
        if obj is None:
            raise DeserializationError(
                str(self.metadata.get("id")),
                f"domain {domain.name!r} has no message class for type {self.metadata.get('type')!r}",
                {"type": self.metadata.get("type"), "stream": self.metadata.get("stream")},
            )
        return obj

    def __repr__(self) -> str:
        return f"Message({self.metadata.get('type')!r}, id={self.metadata.get('id')!r})"
