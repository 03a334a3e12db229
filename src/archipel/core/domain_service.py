"""Domain services: business logic that spans several aggregates.

A domain service's ``@invariant.pre``/``@invariant.post`` rules are checked
around every public method call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from archipel.core.entity import _run_checks
from archipel.core.invariant import collect_invariants
from archipel.core.options import ElementOptions

__all__ = ["BaseDomainService"]

class BaseDomainService:
    """Base class of domain services; takes the aggregates it works on."""

    _element_kind: ClassVar[str] = "domain_service"
    _pre_invariants: ClassVar[tuple[Callable[..., Any], ...]] = ()
    _post_invariants: ClassVar[tuple[Callable[..., Any], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._meta = ElementOptions(cls._element_kind, cls.__name__)  # type: ignore[attr-defined]
        cls._pre_invariants, cls._post_invariants = collect_invariants(cls)
        if not (cls._pre_invariants or cls._post_invariants):
            return
        for klass in cls.__mro__:
            if klass in (BaseDomainService, object):
                continue
            for name, value in vars(klass).items():
                if name.startswith("_") or not callable(value) or hasattr(value, "_archipel_invariant"):
                    continue
                if getattr(value, "_archipel_guarded", False) or isinstance(value, (staticmethod, classmethod)):
                    continue
                if name not in cls.__dict__ or cls.__dict__[name] is value:
                    setattr(cls, name, _guard(value))

    def __init__(self, *aggregates: Any) -> None:
        self._aggregates = aggregates


def _guard(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded(self: BaseDomainService, *args: Any, **kwargs: Any) -> Any:
        if self._pre_invariants:
            _run_checks(self, self._pre_invariants)
        result = method(self, *args, **kwargs)
        if self._post_invariants:
            _run_checks(self, self._post_invariants)
        return result

    guarded._archipel_guarded = True  # type: ignore[attr-defined]
    return guarded
