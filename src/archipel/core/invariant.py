"""``@invariant.pre`` and ``@invariant.post``: business rules on elements.

A *post* invariant must hold after an element is created and after every
change; a *pre* invariant must hold before a change is made (for example
"a shipped order cannot be modified"). Invariants raise
:class:`archipel.errors.ValidationError` naming the field they protect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["invariant"]

F = TypeVar("F", bound=Callable[..., Any])

INVARIANT_ATTR = "_archipel_invariant"


class _Invariant:
    """Namespace object: ``invariant.pre`` and ``invariant.post`` decorators."""

    @staticmethod
    def pre(fn: F) -> F:
        """Mark ``fn`` as checked *before* every change of the element."""
        setattr(fn, INVARIANT_ATTR, "pre")
        return fn

    @staticmethod
    def post(fn: F) -> F:
        """Mark ``fn`` as checked after creation and *after* every change."""
        setattr(fn, INVARIANT_ATTR, "post")
        return fn


invariant = _Invariant()


def collect_invariants(cls: type) -> tuple[tuple[Callable[..., Any], ...], tuple[Callable[..., Any], ...]]:
    """Return ``(pre, post)`` invariant functions of ``cls`` in MRO order."""
    pre: dict[str, Callable[..., Any]] = {}
    post: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            kind = getattr(value, INVARIANT_ATTR, None)
            if kind == "pre":
                pre[name] = value
            elif kind == "post":
                post[name] = value
    return tuple(pre.values()), tuple(post.values())
