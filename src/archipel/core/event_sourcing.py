"""Event sourcing: ``@apply`` methods.

An event-sourced aggregate (``@domain.aggregate(is_event_sourced=True)``)
changes its state only in ``@apply`` methods; ``raise_`` calls the matching
one, and loading replays the stream through them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["apply", "collect_appliers"]

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
