"""``current_domain`` and domain contexts, on ``contextvars``.

``with domain.domain_context():`` makes ``domain`` the current one for the
block (nestable; safe across threads and asyncio tasks). ``current_domain``
is a proxy: attribute access goes to the innermost active domain, and
``bool(current_domain)`` is False outside any context.

Per-task handling state lives here too, in ``contextvars`` (threads and
asyncio safe): the active unit of work, the message being handled (source of
correlation and causation ids), the breadth-first dispatch queue of the
outermost ``process`` call, and the priority given to commands processed in
a block (``archipel.engine.lanes``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from archipel.errors import IncorrectUsageError

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = [
    "current_domain",
    "domain_context",
    "active_domain",
    "stack",
    "current_uow",
    "current_message",
    "dispatch_queue",
    "current_priority",
]

stack: ContextVar[tuple[Domain, ...]] = ContextVar("archipel_domainstack", default=())
current_uow: ContextVar[Any] = ContextVar("archipel_uow", default=None)
current_message: ContextVar[Any] = ContextVar("archipel_message", default=None)
dispatch_queue: ContextVar[Any] = ContextVar("archipel_dispatch_queue", default=None)
current_priority: ContextVar[int | None] = ContextVar("archipel_priority", default=None)


def active_domain() -> Domain | None:
    """The innermost active domain, or None."""
    domains = stack.get()
    return domains[-1] if domains else None


@contextmanager
def domain_context(domain: Domain) -> Iterator[Domain]:
    """Activate ``domain`` for the duration of the block."""
    token = stack.set((*stack.get(), domain))
    try:
        yield domain
    finally:
        stack.reset(token)


class _CurrentDomain:
    """Proxy to the active domain (see module docstring)."""

    __slots__ = ()

    def _get(self) -> Domain:
        domains = stack.get()
        if not domains:
            raise IncorrectUsageError(
                "no domain is active: wrap the call in `with domain.domain_context():` "
                "(handlers run inside one automatically)"
            )
        return domains[-1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __bool__(self) -> bool:
        return bool(stack.get())

    def __eq__(self, other: object) -> bool:
        return active_domain() is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        domain = active_domain()
        return f"<current_domain: {domain.name if domain else 'none'}>"


current_domain: Any = _CurrentDomain()
