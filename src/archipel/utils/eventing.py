"""Message envelopes (Protean's ``protean.utils.eventing``).

- :class:`Metadata`: the envelope of every command and event (``id``,
  ``type``, ``stream``, ``time``, ``correlation_id``, ``causation_id``,
  ``version``, ``headers``, ...), on ``message._metadata``.
- :class:`Message`: one message as stored and sent, ``{"metadata", "data"}``;
  :meth:`Message.to_domain_object` turns it back into its command or event.
- :class:`MessageType`: ``COMMAND`` or ``EVENT`` (``metadata.kind``).
- :class:`MessageEnvelope`: ``specversion`` and the SHA-256 ``checksum`` of a payload
  (the ``envelope`` of :meth:`Message.to_dict`).
- :data:`MessageHeaders`: the type of ``metadata.headers`` (a dict also read as
  Protean's: ``headers.time``, ``headers.idempotency_key``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from archipel.core.envelope_views import Headers
from archipel.core.message import BaseMessage, Metadata, class_envelope
from archipel.errors import DeserializationError, IncorrectUsageError
from archipel.handling.decoding import message_from_stored
from archipel.utils import message_forms as forms
from archipel.utils.globals import active_domain

__all__ = [
    "BaseMessage",
    "Message",
    "MessageEnvelope",
    "MessageHeaders",
    "MessageType",
    "Metadata",
    "StoredMetadata",
]

#: ``metadata.headers``: free-form string keys (trace context, tenant, ...), also read
#: as Protean's ``MessageHeaders`` (``headers.id``, ``.time``, ``.idempotency_key``)
MessageHeaders = Headers


class MessageType(Enum):
    """The kind of a message (``metadata.kind``)."""

    COMMAND = "COMMAND"
    EVENT = "EVENT"


@dataclass(frozen=True)
class MessageEnvelope:
    """Integrity and versioning of a message (Protean's): the envelope format's
    ``specversion`` and the ``checksum`` of its payload (see :meth:`compute_checksum`)."""

    specversion: str = "1.0"
    checksum: str | None = None

    @classmethod
    def build(cls, payload: dict[str, Any]) -> MessageEnvelope:
        """The envelope of ``payload``: its checksum, the current ``specversion``."""
        return cls(checksum=cls.compute_checksum(payload))

    @classmethod
    def compute_checksum(cls, payload: dict[str, Any]) -> str:
        """SHA-256 (hex) of ``payload`` as compact JSON with sorted keys (Protean's)."""
        return forms.checksum(payload)

    def to_dict(self) -> dict[str, Any]:
        """``{"specversion", "checksum"}``."""
        return asdict(self)


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
    attributes, see :class:`StoredMetadata`) and ``data`` (the payload).

    Its wire forms are Protean's: :meth:`to_dict` is the nested dict (``metadata.headers``,
    ``.envelope``, ``.domain``, ``.event_store``, ``.extensions``), :meth:`to_cloudevent`
    a CloudEvents 1.0 object; :meth:`deserialize` and :meth:`from_cloudevent` read them
    back, and :meth:`from_dict` also reads archipel's stored (flat) form. The checksum is
    taken from the data when the message is built, unless the wire form carried one.
    """

    __slots__ = ("metadata", "data", "checksum")

    def __init__(self, metadata: dict[str, Any], data: dict[str, Any], checksum: str | None = None) -> None:
        self.metadata = StoredMetadata(metadata)
        self.data = data
        #: Protean's integrity checksum of ``data`` (:meth:`verify_integrity`)
        self.checksum = checksum if checksum is not None else forms.checksum(data)

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Message:
        """A message from archipel's stored form or Protean's nested ``to_dict()`` form."""
        metadata = stored.get("metadata") or {}
        data = dict(stored.get("data") or {})
        if forms.is_nested(metadata):
            flat, digest = forms.nested_to_flat(metadata)
            return cls(flat, data, digest)
        return cls(dict(metadata), data)

    @classmethod
    def deserialize(cls, message: dict[str, Any], validate: bool = True) -> Message:
        """Protean's reader of :meth:`to_dict`'s form (archipel's stored form works too).

        With ``validate``, a checksum that does not match the data is a
        ``DeserializationError``.
        """
        found = cls.from_dict(message)
        if validate and not found.verify_integrity():
            raise DeserializationError(
                str(found.metadata.get("id")),
                "Message integrity validation failed - checksum mismatch",
                {"type": found.metadata.get("type"), "stream": found.metadata.get("stream")},
            )
        return found

    @classmethod
    def from_cloudevent(cls, cloudevent: dict[str, Any]) -> Message:
        """A message from a CloudEvents 1.0 JSON object (structured mode), Protean's mapping:
        ``source``, ``subject``, ``dataschema`` and unknown extensions land in
        ``metadata.extensions`` (``ce_source``, ...). ``ValueError`` when a required
        attribute is missing or ``specversion`` is not 1.0."""
        flat, data, digest = forms.cloudevent_to_flat(cloudevent)
        return cls(flat, data, digest)

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
        """Protean's nested form: ``{"data", "metadata": {"headers", "envelope", "domain",
        "event_store", "extensions"}}`` (JSON values; times as ISO 8601 text)."""
        return forms.flat_to_nested(self.metadata, dict(self.data), self.checksum)

    def stored(self) -> dict[str, Any]:
        """archipel's stored form, ``{"metadata": <flat envelope>, "data": ...}``."""
        return {"metadata": dict(self.metadata), "data": dict(self.data)}

    def to_external_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without what only the producer needs (Protean's): no positions,
        checksum, expected version, priority or ``asynchronous``."""
        return forms.external(self.to_dict())

    def to_cloudevent(self) -> dict[str, Any]:
        """The CloudEvents 1.0 JSON object of this message (Protean's mapping; ``source`` is
        the active domain's ``source_uri`` configuration, else ``urn:archipel:<domain>``)."""
        domain = active_domain()
        configured = domain.config.get("source_uri") if domain is not None else None
        name = domain.normalized_name if domain is not None else str(self.metadata.get("domain") or "").lower()
        source = configured or f"urn:archipel:{name or 'unknown'}"
        return forms.flat_to_cloudevent(self.metadata, dict(self.data), source, self.checksum)

    def verify_integrity(self) -> bool:
        """True while ``data`` still matches the checksum (Protean's)."""
        return self.checksum == forms.checksum(self.data)

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
        obj = message_from_stored(domain, self.stored())
        if obj is None:
            raise DeserializationError(
                str(self.metadata.get("id")),
                f"domain {domain.name!r} has no message class for type {self.metadata.get('type')!r}",
                {"type": self.metadata.get("type"), "stream": self.metadata.get("stream")},
            )
        return obj

    def __repr__(self) -> str:
        return f"Message({self.metadata.get('type')!r}, id={self.metadata.get('id')!r})"
