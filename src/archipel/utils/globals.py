"""Context-local state: ``current_domain``, ``current_uow``, ``g`` (Protean's ``protean.utils.globals``).

``with domain.domain_context():`` makes ``domain`` the current one for the
block (nestable; safe across threads and asyncio tasks, all on
``contextvars``). The three public names are proxies:

- ``current_domain``: attribute access goes to the innermost active domain;
  ``bool(current_domain)`` is False outside any context (so is
  :func:`has_domain_context`).
- ``current_uow``: the unit of work of the handler or ``with UnitOfWork()``
  block running now; ``bool(current_uow)`` is False outside one.
- ``g``: a namespace for data of one domain context (``g.user = ...``), new
  for every ``domain_context()`` block and gone when it ends.

With nothing active a proxy is falsy and equals ``None``; attribute access
raises :class:`NotActiveError`, an :class:`~archipel.errors.IncorrectUsageError`
saying what to wrap the call in (and an ``AttributeError``, so ``hasattr`` and
``getattr(proxy, name, default)`` work as on ``None``).

The framework's own per-task state lives here too: the active unit of work
(:data:`uow_var`), the message being handled (source of correlation and
causation ids), the breadth-first dispatch queue of the outermost
``process`` call, and the correlation id of the request being served
(:data:`current_correlation_id`, set by
:class:`archipel.integrations.fastapi.CorrelationMiddleware`: a command or
event started with no parent message takes it). The domain stack, the unit
of work, the message and the queue are the fields of one :data:`Scope` in one
context variable (:data:`scope`): a handler sets them with one
``ContextVar.set``, and a read after it hits the variable's cache. ``stack``,
``uow_var``, ``current_message`` and ``dispatch_queue`` read and set one field
each, with a ``ContextVar``'s ``get``/``set``/``reset``. This module imports
nothing above ``errors``: every layer may read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import SimpleNamespace
from typing import Any, Generic, TypeVar, cast

from archipel.errors import IncorrectUsageError
from archipel.utils.scope import (
    DOMAINS,
    MESSAGE,
    QUEUE,
    UOW,
    Scope,
    scope,
    scope_get,
    scope_reset,
    scope_set,
)

_T = TypeVar("_T")

__all__ = [
    "current_domain",
    "current_uow",
    "g",
    "has_domain_context",
    "domain_context",
    "active_domain",
    "stack",
    "scope",
    "Scope",
    "ScopeVar",
    "DOMAINS",
    "UOW",
    "MESSAGE",
    "QUEUE",
    "uow_var",
    "current_message",
    "dispatch_queue",
    "current_correlation_id",
    "NotActiveError",
]

_FIELDS = ("domains", "uow", "message", "queue")


class ScopeVar(Generic[_T]):
    """One field of :data:`scope`, read and set as a ``ContextVar`` (``get``, ``set``, ``reset``).

    ``set`` returns a token of :data:`scope` for ``reset``; sets and resets nest
    (``try``/``finally``), as with any context variable.
    """

    __slots__ = ("name", "_index")

    def __init__(self, name: str) -> None:
        self.name = name
        self._index = _FIELDS.index(name)

    def get(self) -> _T:
        """The field's value in the current scope (None when unset; ``stack``: ``()``)."""
        return cast(_T, scope_get()[self._index])

    def set(self, value: _T) -> Token[Scope]:
        """Set the field for the current context; ``reset(token)`` restores the scope before."""
        fields = list(scope_get())
        fields[self._index] = value
        domains, uow, message, queue = fields
        return scope_set((domains, uow, message, queue))

    def reset(self, token: Token[Scope]) -> None:
        """Restore the scope ``set`` replaced."""
        scope_reset(token)

    def __repr__(self) -> str:
        return f"<ScopeVar {self.name}>"


#: the active domains, innermost last
stack: ScopeVar[tuple[Any, ...]] = ScopeVar("domains")
#: the ``g`` namespace of the innermost ``domain_context()`` block
g_var: ContextVar[SimpleNamespace | None] = ContextVar("archipel_g", default=None)
#: the active unit of work (``current_uow`` reads it)
uow_var: ScopeVar[Any] = ScopeVar("uow")
#: the message being handled: source of correlation and causation ids
current_message: ScopeVar[Any] = ScopeVar("message")
#: the breadth-first dispatch queue of the outermost ``process`` call
dispatch_queue: ScopeVar[Any] = ScopeVar("queue")
#: the correlation id of the request being served (X-Correlation-ID, traceparent)
current_correlation_id: ContextVar[str | None] = ContextVar("archipel_correlation_id", default=None)


class NotActiveError(IncorrectUsageError, AttributeError):
    """A context-local proxy was used with nothing active (see the module docstring)."""


def active_domain() -> Any | None:
    """The innermost active domain, or None."""
    domains = scope_get()[0]
    return domains[-1] if domains else None


def has_domain_context() -> bool:
    """Whether a domain is active (inside ``with domain.domain_context():`` or a handler)."""
    return bool(scope_get()[0])


def _current_uow() -> Any:
    return scope_get()[1]


@contextmanager
def domain_context(domain: Any) -> Iterator[Any]:
    """Activate ``domain`` for the duration of the block, with a fresh ``g``."""
    domains, uow, message, queue = scope_get()
    token = scope_set(((*domains, domain), uow, message, queue))
    g_token = g_var.set(SimpleNamespace())
    try:
        yield domain
    finally:
        g_var.reset(g_token)
        scope_reset(token)


class _Proxy:
    """Forwards attribute access to what ``lookup`` returns (see module docstring)."""

    __slots__ = ("_lookup", "_label", "_hint")

    def __init__(self, lookup: Callable[[], Any], label: str, hint: str) -> None:
        object.__setattr__(self, "_lookup", lookup)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_hint", hint)

    def _get(self) -> Any:
        target = self._lookup()
        if target is None:
            raise NotActiveError(f"{self._label} is not available: {self._hint}")
        return target

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._get(), name)

    def __bool__(self) -> bool:
        return self._lookup() is not None

    def __eq__(self, other: object) -> bool:
        return self._lookup() is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<{self._label}: {self._lookup()!r}>"


_OWN = frozenset(("_lookup", "_label", "_hint", "_get"))


class _DomainProxy(_Proxy):
    """``current_domain``: attributes of the innermost domain of :data:`stack`, read first
    (on every handler's path: ``current_domain.repository_for(...)``; an attribute the
    proxy lacks would cost a caught ``AttributeError`` before ``__getattr__``).
    Dunder names and the proxy's own stay the proxy's."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        # a public name (the common case) is told by its first character: no slice
        if name[0] != "_" or (name[:2] != "__" and name not in _OWN):
            domains = scope_get()[0]
            if domains:
                return getattr(domains[-1], name)
        # no domain (``__getattr__`` then raises NotActiveError), or the proxy's own
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


current_domain: Any = _DomainProxy(
    active_domain,
    "current_domain",
    "no domain is active: wrap the call in `with domain.domain_context():` "
    "(handlers run inside one automatically)",
)
current_uow: Any = _Proxy(
    _current_uow,
    "current_uow",
    "no unit of work is active: it exists while a handler runs, or inside `with UnitOfWork():`",
)
g: Any = _Proxy(
    g_var.get,
    "g",
    "no domain context is active: `g` lives for one `with domain.domain_context():` block",
)
