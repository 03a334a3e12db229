"""The framework's per-task state in one context variable: :data:`scope` (see ``archipel.utils.globals``).

Its own module, holding only the variable and its layout, so that ``core`` may read the
message being handled (``BaseAggregate.raise_`` stamps correlation and causation ids from it,
as Protean does) without importing anything above it. Only the standard library.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["Scope", "DOMAINS", "UOW", "MESSAGE", "QUEUE", "scope", "scope_get", "scope_set", "scope_reset"]

#: the framework's per-task state, held by one context variable (:data:`scope`):
#: ``(domains, uow, message, queue)`` — the active domains (innermost last), the active
#: unit of work, the message being handled, the breadth-first dispatch queue of the
#: outermost ``process`` call. A tuple (built by one ``BUILD_TUPLE``, read by index on
#: the hot path): never changed, a handler sets a new one (one ``ContextVar.set`` for
#: its domain, unit of work and message together) and resets it when it ends.
Scope = tuple[tuple[Any, ...], Any, Any, Any]
#: the index of each field in a :data:`Scope`
DOMAINS, UOW, MESSAGE, QUEUE = range(4)

#: the scope of the code running now (see :data:`Scope`); every set must be reset in
#: reverse order (``try``/``finally``): a reset restores the whole scope
scope: ContextVar[Scope] = ContextVar("archipel_scope", default=((), None, None, None))

#: ``scope``'s methods, bound once for the per-command and per-message paths: CPython 3.11
#: compiles ``scope.get()`` of an imported object as a module's attribute load, making a
#: method object (unspecialised) at every call
scope_get = scope.get
scope_set = scope.set
scope_reset = scope.reset
