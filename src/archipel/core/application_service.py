"""Application services: coordinate a use case (the DDD alternative to command handlers).

Each ``@use_case`` method runs in its own unit of work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from archipel.core.options import ElementOptions

__all__ = ["BaseApplicationService", "use_case", "USE_CASE_ATTR"]

F = TypeVar("F", bound=Callable[..., Any])
USE_CASE_ATTR = "_archipel_use_case"


def use_case(fn: F) -> F:
    """Mark an application-service method as a use case (one unit of work per call)."""
    setattr(fn, USE_CASE_ATTR, True)
    return fn


class BaseApplicationService:
    """Base class of application services (``@use_case`` methods)."""

    _element_kind: ClassVar[str] = "application_service"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._meta = ElementOptions(cls._element_kind, cls.__name__)  # type: ignore[attr-defined]
