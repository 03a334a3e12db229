"""Per-task handling state, kept in ``contextvars`` (threads and asyncio safe).

- the active unit of work,
- the message being handled (source of correlation and causation ids),
- the breadth-first dispatch queue of the outermost ``process`` call.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["current_uow", "current_message", "dispatch_queue"]

current_uow: ContextVar[Any] = ContextVar("archipel_uow", default=None)
current_message: ContextVar[Any] = ContextVar("archipel_message", default=None)
dispatch_queue: ContextVar[Any] = ContextVar("archipel_dispatch_queue", default=None)
