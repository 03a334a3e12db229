"""Handler method decorators (Protean's ``protean.utils.mixins``).

``@handle(MessageClass)`` marks a command-handler, event-handler, projector or
process-manager method; ``@read(QueryClass)`` marks a query-handler method
(the same mark: a query handler answers the queries it ``read``s). Both
live in :mod:`archipel.core.handler`; this module is their Protean home.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.core.handler import handle

__all__ = ["handle", "read"]


def read(target: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a query-handler method as the answer to ``target`` (a query class)."""
    return handle(target)
