"""Event handlers: classes whose ``@handle`` methods react to domain events."""

from __future__ import annotations

from typing import ClassVar

from archipel.core.handler import BaseHandler

__all__ = ["BaseEventHandler"]


class BaseEventHandler(BaseHandler):
    """Reacts to events of a stream category (its aggregate's by default)."""

    _element_kind: ClassVar[str] = "event_handler"
