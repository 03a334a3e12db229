"""``@invariant.pre`` and ``@invariant.post``: business rules on elements.

A *post* invariant must hold after an element is created and after every
change; a *pre* invariant must hold before a change is made (for example
"a shipped order cannot be modified"). Invariants raise
:class:`archipel.errors.ValidationError` naming the field they protect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from archipel.errors import IncorrectUsageError

__all__ = ["invariant", "failure_codes"]

F = TypeVar("F", bound=Callable[..., Any])

INVARIANT_ATTR = "_archipel_invariant"
INVARIANT_CODE_ATTR = "_archipel_invariant_code"


def _mark(fn: F, stage: str, code: str | None) -> F:
    if code is not None and not isinstance(code, str):
        raise IncorrectUsageError(
            f"@invariant.{stage}(code=...) takes a string (a diagnostic code), got {code!r}"
        )
    setattr(fn, INVARIANT_ATTR, stage)
    if code:  # an empty code is none: the stage's default applies, as in Protean
        setattr(fn, INVARIANT_CODE_ATTR, code)
    return fn


class _Invariant:
    """Namespace object: ``invariant.pre`` and ``invariant.post`` decorators.

    Bare (``@invariant.post``) or with a diagnostic code (``@invariant.post(code="BALANCE_NEGATIVE")``):
    the ``ValidationError`` of a failed invariant carries it in ``codes``/``code``, else the
    stage's default (``INVARIANT_PRE_FAILED``, ``INVARIANT_POST_FAILED``; a value object's
    ``VALUE_OBJECT_INVARIANT_FAILED``), as Protean's does.
    """

    @staticmethod
    def pre(fn: F | None = None, *, code: str | None = None) -> Any:
        """Mark ``fn`` as checked *before* every change of the element."""
        if fn is None:
            return lambda f: _mark(f, "pre", code)
        return _mark(fn, "pre", code)

    @staticmethod
    def post(fn: F | None = None, *, code: str | None = None) -> Any:
        """Mark ``fn`` as checked after creation and *after* every change."""
        if fn is None:
            return lambda f: _mark(f, "post", code)
        return _mark(fn, "post", code)


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


def failure_codes(failed: list[Any], default: str) -> list[str]:
    """The diagnostic codes of the ``failed`` invariant functions: each one's ``code=``, else
    ``default``; distinct, in order."""
    return list(dict.fromkeys(getattr(check, INVARIANT_CODE_ATTR, None) or default for check in failed))
