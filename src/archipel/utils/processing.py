"""Processing priority (Protean's ``protean.utils.processing``).

Give a command a priority with ``domain.process(cmd, priority=Priority.LOW)``,
or every command of a block::

    from archipel.utils.processing import Priority, processing_priority

    with processing_priority(Priority.BULK):
        for row in import_file:
            domain.process(ImportBook(**row))

Events raised while handling a command inherit its priority. Negative
priorities travel in the bulk lane when ``[server] priority_lanes = true``
(see :mod:`archipel.engine.lanes`); the outbox relays higher priorities first.
Contexts nest: the innermost wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import IntEnum

__all__ = ["Priority", "processing_priority", "current_priority", "priority_var"]


class Priority(IntEnum):
    """Priority levels; higher runs first. Production traffic is ``NORMAL``."""

    BULK = -100
    LOW = -50
    NORMAL = 0
    HIGH = 50
    CRITICAL = 100


#: the priority set by the innermost ``processing_priority`` block (None: none set)
priority_var: ContextVar[int | None] = ContextVar("archipel_priority", default=None)


@contextmanager
def processing_priority(priority: Priority | int) -> Iterator[None]:
    """Commands processed inside the block get ``priority`` (unless ``process`` is given one)."""
    token = priority_var.set(int(priority))
    try:
        yield
    finally:
        priority_var.reset(token)


def current_priority() -> int:
    """The priority in effect here: the innermost block's, else ``Priority.NORMAL``."""
    level = priority_var.get()
    return int(Priority.NORMAL) if level is None else level
