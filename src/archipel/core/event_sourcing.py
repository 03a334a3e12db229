"""Event sourcing: ``@apply`` methods.

An event-sourced aggregate (``@domain.aggregate(is_event_sourced=True)``)
changes its state only in ``@apply`` methods; ``raise_`` calls the matching
one, and loading replays the stream through them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["apply", "apply_events", "collect_appliers", "fresh_aggregate", "schema_fingerprint"]

F = TypeVar("F", bound=Callable[..., Any])
APPLY_ATTR = "_archipel_applies"


def apply(fn: F) -> F:
    """Mark ``fn(self, event)`` as applying its annotated event type to the aggregate.

    The event class is taken from the first parameter's annotation, resolved
    by the domain at ``init()``.
    """
    setattr(fn, APPLY_ATTR, True)
    return fn


def collect_appliers(cls: type, resolve: Callable[[Any], type | None]) -> dict[type, Callable[..., Any]]:
    """Map event classes to ``@apply`` methods of ``cls``."""
    import inspect

    appliers: dict[type, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for value in vars(klass).values():
            if callable(value) and getattr(value, APPLY_ATTR, False):
                params = list(inspect.signature(value).parameters.values())
                annotation = params[1].annotation if len(params) > 1 else None
                event_cls = resolve(annotation)
                if event_cls is not None:
                    appliers[event_cls] = value
    return appliers


def schema_fingerprint(cls: type) -> str:
    """A short digest of the stored shape of ``cls``: its field names and kinds, nested.

    A snapshot records the fingerprint of its aggregate class; one taken
    with another fingerprint (a field added, renamed or retyped since) is
    ignored, because its state may not be what the current ``@apply``
    methods would build.
    """
    import hashlib

    def describe(klass: type, seen: tuple[type, ...]) -> str:
        parts = []
        for name, field in getattr(klass, "_fields", {}).items():
            part = f"{name}:{type(field).__name__}"
            target = getattr(field, "_to", None)
            if isinstance(target, type) and target not in seen:
                part += "(" + describe(target, (*seen, target)) + ")"
            content = getattr(field, "content_type", None)
            if content is not None:
                part += f"[{getattr(content, '__name__', type(content).__name__)}]"
            parts.append(part)
        return ",".join(parts)

    return hashlib.sha256(describe(cls, (cls,)).encode()).hexdigest()[:16]


def fresh_aggregate(cls: Any, identity: Any) -> Any:
    """An aggregate of ``cls`` with identity ``identity`` and default values, before any event."""
    obj = cls.__new__(cls)
    values = obj.__dict__
    id_field = cls._id_field
    for name, field in cls._fields.items():
        if name == id_field:
            values[name] = identity
            continue
        factory = field.default_factory()
        values[name] = factory() if factory is not None else None
    obj._after_load()
    return obj


def apply_events(obj: Any, events: list[Any]) -> Any:
    """``obj`` with ``events`` applied in order through its ``@apply`` methods."""
    appliers = type(obj)._appliers
    values = obj.__dict__
    for event in events:
        applier = appliers.get(type(event))
        if applier is not None:
            applier(obj, event)
        position = event._metadata.position
        if position is None:  # an event never stored (``from_events``): the next position
            position = values["_event_position"] + 1
        values["_event_position"] = position
        values["_version"] = position
    return obj
