"""Protean's nested views of a message envelope: ``headers.id``, ``event_store.position``.

archipel keeps a message's envelope flat (``_metadata.id``, ``_metadata.time``,
``_metadata.global_position``); Protean 0.18 nests the same values
(``_metadata.headers.time``, ``_metadata.headers.idempotency_key``,
``_metadata.event_store.global_position``, ``_metadata.envelope.specversion``,
``_metadata.domain.kind``).
These views read the flat fields under Protean's names, so handlers written
for Protean read them unchanged. Nothing here is on a message's hot path:
a view is made when it is first asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DomainMeta", "Headers", "StoreView", "EnvelopeView"]

#: headers Protean keeps that archipel keeps in the flat envelope
_FLAT = frozenset({"id", "type", "stream", "time"})
#: headers Protean always has, None when absent
_OPTIONAL = frozenset({"traceparent", "idempotency_key", "deadline"})


class Headers(dict[str, Any]):
    """A message's free-form headers (a dict), also read as Protean's ``MessageHeaders``.

    ``headers["x"]`` is the header ``x``; ``headers.id``/``.type``/``.stream``/
    ``.time`` are the envelope's; ``headers.traceparent``, ``.idempotency_key``
    and ``.deadline`` are those headers or None; any other attribute is the
    header of that name (``AttributeError`` when there is none).
    """

    __slots__ = ("_envelope",)

    def __init__(self, values: Any = (), envelope: Any = None) -> None:
        super().__init__(values)
        self._envelope = envelope

    def __reduce__(self) -> Any:
        # copied or pickled as the plain dict it is (the envelope makes it a view again)
        return (dict, (dict(self),))

    def __getattr__(self, name: str) -> Any:
        if name in _FLAT:
            meta = self._envelope
            return getattr(meta, name) if meta is not None else None
        if name in _OPTIONAL:
            return self.get(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no header {name!r} (headers: {', '.join(self) or 'none'})") from None


class StoreView:
    """``_metadata.event_store``: the message's ``position`` in its stream and
    ``global_position`` in the store (None until stored)."""

    __slots__ = ("position", "global_position")

    def __init__(self, position: int | None, global_position: int | None) -> None:
        self.position = position
        self.global_position = global_position

    def __repr__(self) -> str:
        return f"EventStoreMeta(position={self.position}, global_position={self.global_position})"


class EnvelopeView:
    """``_metadata.envelope``: ``specversion`` ("1.0") and ``checksum`` (archipel
    computes none: None)."""

    __slots__ = ()
    specversion = "1.0"
    checksum = None

    def __repr__(self) -> str:
        return "MessageEnvelope(specversion='1.0', checksum=None)"


#: Protean's ``DomainMeta`` attributes, in its order (``DomainMeta.to_dict()``)
DOMAIN_META_FIELDS = (
    "fqn",
    "kind",
    "origin_stream",
    "stream_category",
    "version",
    "sequence_id",
    "asynchronous",
    "expected_version",
    "priority",
    "correlation_id",
    "causation_id",
)


class DomainMeta(str):
    """``_metadata.domain``: the domain's name (a ``str``, empty until the message is
    raised or processed), also read as Protean's ``DomainMeta``.

    ``.kind``, ``.version``, ``.priority``, ``.asynchronous``, ``.correlation_id`` and
    ``.causation_id`` are the envelope's; ``.fqn`` is the message class's
    ``module.QualName`` (None when the envelope was built without its class);
    ``.stream_category`` is an event's stream without its identity (None for
    commands, as in Protean); ``.sequence_id`` is an event's position in its stream
    as text and ``.expected_version`` the position before it (None for commands);
    ``.origin_stream`` is None (archipel does not record it).
    """

    _envelope: Any  # (a str subclass takes no __slots__)

    def __new__(cls, name: str | None, envelope: Any) -> DomainMeta:
        view = super().__new__(cls, name or "")
        view._envelope = envelope
        return view

    def __reduce__(self) -> Any:
        # copied or pickled as the plain name it is
        return (str, (str(self),))

    def _is_event(self) -> bool:
        return bool(self._envelope.kind == "EVENT")

    @property
    def fqn(self) -> str | None:
        """The message class's fully qualified name (``module.QualName``)."""
        return self._envelope.__dict__.get("_fqn")  # type: ignore[no-any-return]

    @property
    def kind(self) -> str:
        """``"EVENT"`` or ``"COMMAND"``."""
        return self._envelope.kind  # type: ignore[no-any-return]

    @property
    def origin_stream(self) -> None:
        """Protean's stream of the causing message: archipel does not record it (None)."""
        return None

    @property
    def stream_category(self) -> str | None:
        """An event's stream category (``shop::order``); None for a command or an unraised event."""
        stream = self._envelope.stream
        if not stream or not self._is_event():
            return None
        return str(stream).partition("-")[0]

    @property
    def version(self) -> int:
        """The message type's schema version (the ``v<N>`` of its type)."""
        return self._envelope.version  # type: ignore[no-any-return]

    @property
    def sequence_id(self) -> str | None:
        """An event's position in its stream, as text (None for a command)."""
        position = self._envelope.position
        return None if position is None or not self._is_event() else str(position)

    @property
    def asynchronous(self) -> bool:
        """Whether the message was submitted for asynchronous handling."""
        return bool(self._envelope.asynchronous)

    @property
    def expected_version(self) -> int | None:
        """The stream position an event was raised after (-1 for a stream's first event)."""
        position = self._envelope.position
        return None if position is None or not self._is_event() else position - 1

    @property
    def priority(self) -> int:
        """The processing priority (lane) the message travels in."""
        return self._envelope.priority  # type: ignore[no-any-return]

    @property
    def correlation_id(self) -> str | None:
        """Shared by every message one outside request caused."""
        return self._envelope.correlation_id  # type: ignore[no-any-return]

    @property
    def causation_id(self) -> str | None:
        """The id of the message whose handling created this one."""
        return self._envelope.causation_id  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        """Protean's ``DomainMeta.to_dict()``: the attributes above by name."""
        return {name: getattr(self, name) for name in DOMAIN_META_FIELDS}
