"""Projectors: event handlers that keep a projection (read model) up to date."""

from __future__ import annotations

from typing import ClassVar

from archipel.core.handler import BaseHandler

__all__ = ["BaseProjector"]


class BaseProjector(BaseHandler):
    """Keeps a projection (read model) up to date from events."""

    _element_kind: ClassVar[str] = "projector"
