"""Upcasters: turn an old version of an event's stored data into the next version."""

from __future__ import annotations

from typing import Any, ClassVar

from archipel.core.options import ElementOptions

__all__ = ["BaseUpcaster"]


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
