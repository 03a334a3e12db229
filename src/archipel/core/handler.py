"""``@handle`` and the common base of handler classes.

A handler class groups methods decorated with ``@handle(MessageClass)``.
``Domain.init()`` turns those marks into routing tables once, so dispatch
does no introspection per message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

__all__ = [
    "handle",
    "HandlerSpec",
    "handler_specs",
    "BaseHandler",
]

F = TypeVar("F", bound=Callable[..., Any])
HANDLE_ATTR = "_archipel_handles"

#: handle every event of the subscribed streams
ANY = "$any"


class HandlerSpec:
    """One ``@handle`` mark: the target message and its options."""

    __slots__ = ("target", "method_name", "start", "correlate", "end")

    def __init__(
        self,
        target: Any,
        method_name: str,
        start: bool = False,
        correlate: str | dict[str, str] | None = None,
        end: bool = False,
    ) -> None:
        self.target = target
        self.method_name = method_name
        self.start = start
        self.correlate = correlate
        self.end = end


def handle(
    target: Any,
    *,
    start: bool = False,
    correlate: str | dict[str, str] | None = None,
    end: bool = False,
) -> Callable[[F], F]:
    """Mark a method as the handler of ``target`` (a message class, or ``"$any"``).

    ``start``, ``correlate`` and ``end`` are for process managers: ``start``
    creates a new instance, ``correlate`` names the event field whose value
    identifies the instance (or maps ``{"pm_field": "event_field"}``), ``end``
    completes it after the handler ran.
    """

    def mark(fn: F) -> F:
        marks = list(getattr(fn, HANDLE_ATTR, ()))
        marks.append((target, start, correlate, end))
        setattr(fn, HANDLE_ATTR, marks)
        return fn

    return mark


def handler_specs(cls: type) -> list[HandlerSpec]:
    """All ``@handle`` marks of a class, in definition order (subclasses override)."""
    found: dict[str, list[HandlerSpec]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            marks = getattr(value, HANDLE_ATTR, None)
            if marks:
                found[name] = [HandlerSpec(t, name, s, c, e) for (t, s, c, e) in marks]
    return [spec for specs in found.values() for spec in specs]


class BaseHandler:
    """Common base of handler classes; instantiated once per message."""

    _element_kind: ClassVar[str] = "handler"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        from archipel.core.options import ElementOptions

        cls._meta = ElementOptions(cls._element_kind, cls.__name__)  # type: ignore[attr-defined]

    @classmethod
    def handle_error(cls, exc: BaseException, message: Any) -> None:
        """Called by ``archipel server`` each time handling ``message`` fails (Protean's hook).

        Override it to alert, log or compensate; what it raises is logged, never
        propagated, and the failure still goes to the retries and the dead-letter
        queue. ``message`` is the stored message (:class:`archipel.utils.eventing.Message`;
        for a subscriber, the broker's payload dict). Not called for synchronous handling,
        where the error reaches the caller. Does nothing by default.
        """
