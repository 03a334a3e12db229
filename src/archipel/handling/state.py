"""Per-task handling state, kept in ``contextvars`` (threads and asyncio safe).

- the active unit of work,
- the message being handled (source of correlation and causation ids),
- the breadth-first dispatch queue of the outermost ``process`` call,
- the priority given to commands processed in a block (``archipel.engine.lanes``),
- the correlation id of the request being served (``current_correlation_id``:
  set by :class:`archipel.integrations.fastapi.CorrelationMiddleware`; a
  command or event started with no parent message takes it).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["current_uow", "current_message", "dispatch_queue", "current_priority", "current_correlation_id"]

current_uow: ContextVar[Any] = ContextVar("archipel_uow", default=None)
current_message: ContextVar[Any] = ContextVar("archipel_message", default=None)
dispatch_queue: ContextVar[Any] = ContextVar("archipel_dispatch_queue", default=None)
current_priority: ContextVar[int | None] = ContextVar("archipel_priority", default=None)
current_correlation_id: ContextVar[str | None] = ContextVar("archipel_correlation_id", default=None)
