"""Projections: read models kept up to date by projectors, read with ``query_for``."""

from __future__ import annotations

from typing import ClassVar

from archipel.core.model import BaseModel
from archipel.core.state import ElementState

__all__ = ["BaseProjection"]


class BaseProjection(BaseModel):
    """Base class of projections. Needs an identifier field (``identifier=True``)."""

    _element_kind: ClassVar[str] = "projection"
    _auto_identity: ClassVar[bool] = True

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self), self._identity()))

    @property
    def state_(self) -> ElementState:
        """Where this element stands against its store: ``is_new``, ``is_persisted``,
        ``is_changed``, ``is_destroyed`` (Protean's ``state_``)."""
        return ElementState(self)
