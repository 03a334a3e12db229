"""Event sourcing: ``@apply`` methods.

An event-sourced aggregate (``@domain.aggregate(is_event_sourced=True)``)
changes its state only in ``@apply`` methods; ``raise_`` calls the matching
one, and loading replays the stream through them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["apply", "collect_appliers", "schema_fingerprint"]

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
