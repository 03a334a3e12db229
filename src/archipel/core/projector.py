"""Projectors: event handlers that keep a projection (read model) up to date."""

from __future__ import annotations

from typing import ClassVar

from archipel.core.handler import BaseHandler, handle

__all__ = ["BaseProjector", "on"]

#: Protean's name for ``handle`` in projectors: ``@on(OrderPlaced)``
on = handle


class BaseProjector(BaseHandler):
    """Keeps a projection (read model) up to date from events."""

    _element_kind: ClassVar[str] = "projector"
