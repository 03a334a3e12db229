"""Stored or received message data holding fields its class does not declare.

A field removed from an event or command leaves old messages carrying it.
Protean 0.18 rejects such a message (``DeserializationError``) unless the
class is lenient: ``@domain.event(lenient=True)`` (or ``False`` to insist),
else the domain's ``lenient_deserialization = true``. A lenient class drops
the unknown fields and records their names, sorted, in the message's
``_metadata.extensions["_dropped_fields"]``, so nothing disappears unseen.

archipel adds one rule: an event registered with
``register_external_event`` (another context's event, read through a copy of
its class) is lenient unless its ``lenient`` option says otherwise, because
a producer adding an optional field is a compatible change for its readers
(``archipel schema check``). A field's former names (``renamed_from``) are
known fields, not unknown ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archipel.errors import DeserializationError

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = ["DROPPED_FIELDS", "is_lenient", "known_fields", "record_dropped", "screen"]

#: the extension naming the fields a lenient read dropped (Protean's key)
DROPPED_FIELDS = "_dropped_fields"

_KNOWN = "_archipel_known_fields"  # kept on the class itself (its own __dict__, not a base's)


def known_fields(cls: Any) -> frozenset[str]:
    """The data keys ``cls`` reads: its fields and their former names."""
    known: frozenset[str] | None = cls.__dict__.get(_KNOWN)
    if known is None:
        names = {name for name, _ in cls._from_primitive_items}
        for _name, former in cls._renames:
            names.update(former)
        known = frozenset(names)
        setattr(cls, _KNOWN, known)
    return known


def is_lenient(domain: DomainLike, cls: Any) -> bool:
    """Whether ``cls`` drops unknown fields: its ``lenient`` option, else external, else config."""
    own = cls._meta.get("lenient")
    if own is not None:
        return bool(own)
    if cls in domain.registry.external_events:
        return True
    return bool(domain.config.get("lenient_deserialization", False))


def screen(
    domain: DomainLike, cls: Any, metadata: dict[str, Any], data: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """``(data, dropped)``: ``data`` as ``cls`` may read it, and the names dropped from it.

    Raises :class:`~archipel.errors.DeserializationError` naming the unknown
    fields when ``cls`` is not lenient.
    """
    known = known_fields(cls)
    if data.keys() <= known:
        return data, []
    unknown = sorted(key for key in data if key not in known)
    if not is_lenient(domain, cls):
        type_string = metadata.get("type")
        raise DeserializationError(
            str(metadata.get("id")),
            f"{type_string} holds field(s) {', '.join(unknown)} that {cls.__name__} does not "
            f"declare: add an upcaster that removes them, or make {cls.__name__} lenient "
            f"(@{domain.snake_name}.{cls._meta.kind}(lenient=True), or lenient_deserialization = "
            "true) to drop them",
            {"type": type_string, "stream": metadata.get("stream"), "fields": unknown},
        )
    return {key: value for key, value in data.items() if key in known}, unknown


def record_dropped(message: Any, dropped: list[str]) -> Any:
    """Note ``dropped`` in ``message``'s metadata extensions; return ``message``."""
    if dropped:
        envelope = message._metadata
        envelope.extensions = {**envelope.extensions, DROPPED_FIELDS: dropped}
    return message

