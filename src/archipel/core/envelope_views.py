"""Protean's nested views of a message envelope: ``headers.id``, ``event_store.position``.

archipel keeps a message's envelope flat (``_metadata.id``, ``_metadata.time``,
``_metadata.global_position``); Protean 0.18 nests the same values
(``_metadata.headers.time``, ``_metadata.headers.idempotency_key``,
``_metadata.event_store.global_position``, ``_metadata.envelope.specversion``).
These views read the flat fields under Protean's names, so handlers written
for Protean read them unchanged. Nothing here is on a message's hot path:
a view is made when it is first asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Headers", "StoreView", "EnvelopeView"]

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
