"""Domain events and integration events.

An event records something that happened, in the past tense. It is raised
by an aggregate (``self.raise_(Event(...))``), stored and dispatched after
the unit of work commits. ``published=True`` marks an integration event: a
stable, versioned contract for other bounded contexts.
"""

from __future__ import annotations

from typing import ClassVar

from archipel.core.message import BaseMessage

__all__ = ["BaseEvent"]


class BaseEvent(BaseMessage):
    """Base class of events. Immutable; metadata in ``_metadata``."""

    _kind: ClassVar[str] = "EVENT"
    _element_kind: ClassVar[str] = "event"
