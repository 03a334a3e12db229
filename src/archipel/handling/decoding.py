"""Rebuilding typed messages from their stored form, with upcasting.

A stored message is ``{"metadata": {...}, "data": {...}}``. Its type string
(``<Domain>.<Name>.v<N>``) finds the class in the domain's router; when the
stored version is older than the registered one, the domain's upcasters
(``@domain.upcaster(event_type=OrderPlaced, from_version=1, to_version=2)``)
convert the data step by step first. Every path that turns a stored or
brokered message into an object goes through :func:`decode_stored`
(aggregate loads, snapshots, the engine's deliveries and dead-letter
replays, projection rebuilds), so an old event is upcast everywhere, and
one that cannot be (no upcaster path to the current version) raises
:class:`~archipel.errors.DeserializationError` instead of being skipped.

:func:`build_upcasters` runs at ``init()`` and rejects chains with gaps,
cycles, duplicates or unknown event types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archipel.core.message import Metadata
from archipel.errors import ConfigurationError, DeserializationError
from archipel.handling.leniency import record_dropped, screen

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = [
    "Upcasting",
    "build_upcasters",
    "current_type",
    "decode_stored",
    "message_from_stored",
    "stored_builder",
    "split_type",
]


def split_type(type_string: str) -> tuple[str, int]:
    """``"Shop.OrderPlaced.v2"`` -> ``("Shop.OrderPlaced", 2)``."""
    base, _, version = type_string.rpartition(".v")
    if not base or not version.isdigit():
        return type_string, 1
    return base, int(version)


class Upcasting:
    """A domain's upcaster chains, checked: ``steps[base][from] = (to, upcaster class)``.

    ``current[base]`` is the version of the class registered for ``base``
    (the newest, when several versions are registered as classes).
    """

    __slots__ = ("steps", "current")

    def __init__(self, steps: dict[str, dict[int, tuple[int, Any]]], current: dict[str, int]) -> None:
        self.steps = steps
        self.current = current


def _base_of(domain: DomainLike, upcaster: Any, event_type: Any) -> str:
    """The ``<Domain>.<Name>`` an upcaster's ``event_type`` names (class, class name or type)."""
    if isinstance(event_type, type):
        type_string = getattr(getattr(event_type, "_meta", None), "type_string", None)
        if type_string is None:
            type_string = domain.registry.external_events.get(event_type)
        if type_string is None:
            raise ConfigurationError(
                f"upcaster {upcaster.__name__}: event_type={event_type.__name__} is not an event "
                f"registered with domain {domain.name!r}"
            )
        return split_type(type_string)[0]
    if isinstance(event_type, str) and event_type:
        found = domain.registry.by_name.get(event_type)
        if found is not None and getattr(getattr(found, "_meta", None), "kind", None) == "event":
            return split_type(found._meta.type_string)[0]  # type: ignore[attr-defined]
        base, _ = split_type(event_type)
        return base
    raise ConfigurationError(
        f"upcaster {upcaster.__name__} needs event_type=: the event class (or its type string "
        "'<Domain>.<Name>'), e.g. @domain.upcaster(event_type=OrderPlaced, from_version=1, to_version=2)"
    )


def build_upcasters(domain: DomainLike) -> Upcasting:
    """Check and index the domain's upcasters (called by ``init()``).

    Raises ``ConfigurationError`` for a missing or non-positive version, a
    ``to_version`` not above ``from_version`` (a cycle), two upcasters from
    the same version, an event type the domain does not know, or a chain
    that does not reach the registered version (a gap).
    """
    current: dict[str, int] = {}
    for type_string in domain.router.messages:
        base, version = split_type(type_string)
        current[base] = max(version, current.get(base, 0))
    steps: dict[str, dict[int, tuple[int, Any]]] = {}
    for upcaster in domain.registry.of_kind("upcaster").values():
        meta = upcaster._meta
        base = _base_of(domain, upcaster, meta.get("event_type"))
        start, end = meta.get("from_version"), meta.get("to_version")
        for name, value in (("from_version", start), ("to_version", end)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"upcaster {upcaster.__name__}: {name} must be a whole number >= 1, got {value!r}"
                )
        if end <= start:
            raise ConfigurationError(
                f"upcaster {upcaster.__name__} goes from v{start} to v{end}: an upcaster must "
                "raise the version (a chain going back would be a cycle)"
            )
        if base not in current:
            raise ConfigurationError(
                f"upcaster {upcaster.__name__}: no event {base!r} is registered with domain "
                f"{domain.name!r} (known: {', '.join(sorted(current)) or 'none'})"
            )
        chain = steps.setdefault(base, {})
        if start in chain:
            raise ConfigurationError(
                f"upcasters {chain[start][1].__name__} and {upcaster.__name__} both convert "
                f"{base} v{start}: keep one"
            )
        chain[start] = (end, upcaster)
    for base, chain in steps.items():
        target = current[base]
        for start in chain:
            version, seen = start, [start]
            while version in chain and version != target:
                version = chain[version][0]
                seen.append(version)
            if version != target:
                path = " -> ".join(f"v{v}" for v in seen)
                raise ConfigurationError(
                    f"upcasters of {base} do not reach the registered v{target}: {path} stops "
                    f"(add an upcaster from v{version}, or register the event with "
                    f"__version__ = {version})"
                )
    return Upcasting(steps, current)


def _upcasting(domain: DomainLike) -> Upcasting:
    found: Upcasting | None = getattr(domain, "_upcasting", None)
    if found is None:
        found = build_upcasters(domain)
        domain._upcasting = found
    return found


def current_type(domain: DomainLike, type_string: str) -> str | None:
    """The registered type string for any version of ``type_string``; None if the domain lacks it."""
    if type_string in domain.router.messages:
        return type_string
    base, _ = split_type(type_string)
    newest = _upcasting(domain).current.get(base)
    # a version with no upcaster path (or newer than the class) still routes here:
    # decoding it then fails loudly instead of the message being skipped
    return None if newest is None else f"{base}.v{newest}"


def decode_stored(domain: DomainLike, stored: dict[str, Any]) -> Any:
    """The typed message for ``stored``, upcast to the registered version.

    Raises :class:`~archipel.errors.DeserializationError` when the domain
    has no class for the type, no upcaster path from the stored version, or
    the (upcast) data does not fit the class.
    """
    metadata = stored.get("metadata") or {}
    type_string = str(metadata.get("type") or "")
    cls: Any = domain.router.messages.get(type_string)
    if cls is not None:
        data, dropped = screen(domain, cls, metadata, stored.get("data") or {})
        try:
            if dropped:
                return record_dropped(cls.from_message({**stored, "data": data}), dropped)
            return cls.from_message(stored)
        except Exception as exc:
            raise DeserializationError(
                str(metadata.get("id")), f"{type_string} does not fit {cls.__name__}: {exc}",
                {"type": type_string, "stream": metadata.get("stream")},
            ) from exc
    base, version = split_type(type_string)
    upcasting = _upcasting(domain)
    newest = upcasting.current.get(base)
    if newest is None:
        raise DeserializationError(
            str(metadata.get("id")),
            f"type {type_string!r} is unknown to domain {domain.name!r}: register its class "
            "(or remove the message)",
            {"type": type_string, "stream": metadata.get("stream")},
        )
    chain = upcasting.steps.get(base, {})
    data = dict(stored.get("data") or {})
    current = version
    try:
        while current != newest:
            step = chain.get(current)
            if step is None:
                raise DeserializationError(
                    str(metadata.get("id")),
                    f"{type_string} cannot be read: no upcaster from {base} v{current} towards "
                    f"the registered v{newest}; add @{domain.snake_name}.upcaster("
                    f"event_type=..., from_version={current}, to_version=...)",
                    {"type": type_string, "stream": metadata.get("stream")},
                )
            next_version, upcaster = step
            data = upcaster().upcast(data)
            current = next_version
        cls = domain.router.messages[f"{base}.v{current}"]
        metadata = {**metadata, "type": f"{base}.v{current}", "version": current}
        data, dropped = screen(domain, cls, metadata, data)
        return record_dropped(cls.from_message({"metadata": metadata, "data": data}), dropped)
    except DeserializationError:
        raise
    except Exception as exc:
        raise DeserializationError(
            str(metadata.get("id")), f"{type_string} failed to upcast to v{newest}: {exc}",
            {"type": type_string, "stream": metadata.get("stream")},
        ) from exc


def message_from_stored(domain: DomainLike, stored: dict[str, Any]) -> Any:
    """Like :func:`decode_stored`, but None for a type the domain does not know at all."""
    base, _ = split_type(str((stored.get("metadata") or {}).get("type") or ""))
    if base not in _upcasting(domain).current:
        return None
    return decode_stored(domain, stored)


def stored_builder(domain: DomainLike, type_string: str) -> Callable[[dict[str, Any], dict[str, Any]], Any]:
    """``build(metadata, data)``: the typed message of a stored ``type_string``, upcast.

    For replays that decode many messages of few types (projection
    rebuilds): the class lookup is done once, and ``build`` takes over the
    two dicts it is given (the caller's own copies; ``metadata`` holding
    envelope fields only, or the envelope as stored, decoded when read: see
    :meth:`~archipel.core.message.Metadata.adopt`).
    A message of the registered version is rebuilt with the trusted
    constructor (no re-validation: the data was validated when it was
    written), its data dict becoming the message's own when it holds
    exactly the class's fields and none needs converting; an older one goes
    through the upcasters (:func:`decode_stored`). Either way a message
    that cannot be built raises :class:`~archipel.errors.DeserializationError`.
    """
    cls: Any = domain.router.messages.get(type_string)
    if cls is None:
        def upcast(metadata: dict[str, Any], data: dict[str, Any]) -> Any:
            if "_stored" in metadata:  # the envelope as stored, not decoded yet
                metadata = Metadata.adopt(metadata).to_dict()
            return decode_stored(domain, {"metadata": metadata, "data": data})

        return upcast
    items = cls._from_primitive_items
    # the stored data is the message's fields as they are: adopt it as the object's values
    names = {name for name, _ in items} if (
        not cls._renames and all(convert is None for _, convert in items) and "_metadata" not in cls._fields
    ) else None
    fill = cls._fill_from_primitive
    new = cls.__new__
    adopt = Metadata.adopt
    set_values = object.__setattr__
    fqn = f"{cls.__module__}.{cls.__qualname__}"  # ``_metadata.domain.fqn``

    def build(metadata: dict[str, Any], data: dict[str, Any]) -> Any:
        metadata["_fqn"] = fqn
        try:
            if names is not None and data.keys() == names:
                message = new(cls)
                data["_metadata"] = adopt(metadata)
                set_values(message, "__dict__", data)
                return message
            data, dropped = screen(domain, cls, metadata, data)
            message = fill(data)
            message.__dict__["_metadata"] = adopt(metadata)
            return record_dropped(message, dropped)
        except DeserializationError:
            raise
        except Exception as exc:
            raise DeserializationError(
                str(metadata.get("id")), f"{type_string} does not fit {cls.__name__}: {exc}",
                {"type": type_string, "stream": metadata.get("stream")},
            ) from exc

    return build
