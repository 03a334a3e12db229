"""Event sourcing: ``@apply`` methods and upcasters.

An event-sourced aggregate (``@domain.aggregate(is_event_sourced=True)``)
changes its state only in ``@apply`` methods; ``raise_`` calls the matching
one, and loading replays the stream through them. An *upcaster* turns an old
version of an event's data into the next version when it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from archipel.core.options import ElementOptions

__all__ = ["apply", "collect_appliers", "BaseUpcaster"]

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


class BaseUpcaster:
    """Converts stored event data from ``from_version`` to ``to_version``.

    Register with ``@domain.upcaster(event_type="Shop.OrderPlaced", from_version=1,
    to_version=2)`` and implement ``upcast(self, data: dict) -> dict``.
    """

    _element_kind: ClassVar[str] = "upcaster"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._meta = ElementOptions(cls._element_kind, cls.__name__)  # type: ignore[attr-defined]

    def upcast(self, data: dict[str, Any]) -> dict[str, Any]:
        """Return ``data`` converted from ``from_version`` to ``to_version``."""
        raise NotImplementedError
