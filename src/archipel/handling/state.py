"""Per-task handling state, kept in ``contextvars`` (threads and asyncio safe).

- the active unit of work,
- the message being handled (source of correlation and causation ids),
- the breadth-first dispatch queue of the outermost ``process`` call,
- the priority given to commands processed in a block (``archipel.engine.lanes``).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["current_uow", "current_message", "dispatch_queue", "current_priority"]

current_uow: ContextVar[Any] = ContextVar("archipel_uow", default=None)
current_message: ContextVar[Any] = ContextVar("archipel_message", default=None)
dispatch_queue: ContextVar[Any] = ContextVar("archipel_dispatch_queue", default=None)
current_priority: ContextVar[int | None] = ContextVar("archipel_priority", default=None)
