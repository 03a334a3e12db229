"""Is a handler's failure worth retrying? Transient errors are; business errors never are.

A *transient* error says the world was not ready — a connection dropped, a
call timed out, a lock or a concurrent writer was in the way, a lease moved —
and the same message may well succeed a moment later: it is retried with
capped exponential backoff (``max_retries`` times) before the dead-letter
queue. Anything else — a :class:`~archipel.errors.ValidationError`, an
:class:`~archipel.errors.InvalidOperation`, a bug (``KeyError``,
``TypeError``...) — fails the same way every time: retrying only delays the
operator and floods the log, so the message is dead-lettered at once, with
its error and traceback, to be replayed after the fix.

A handler widens the transient set with its ``retry_exceptions`` option (a
tuple of exception classes, e.g. a payment provider's ``RateLimited``):
:func:`retryable_types` reads it, :func:`is_transient` takes it.

Outages of the engine's own database or broker (``DatabaseUnavailable``,
``BrokerUnavailable``) never count against a message at all: the consumer
waits for them to pass (:mod:`.consumer`).
"""

from __future__ import annotations

from typing import Any

from archipel.errors import (
    BrokerUnavailable,
    DatabaseBusy,
    DatabaseUnavailable,
    ExpectedVersionError,
    LeaseLostError,
)

__all__ = ["TRANSIENT", "is_transient", "retryable_types", "describe_failure"]

#: errors a later attempt may not meet: connection, timeout, lock, concurrent writer, lease
TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    DatabaseUnavailable,
    DatabaseBusy,
    BrokerUnavailable,
    ExpectedVersionError,
    LeaseLostError,
)


def is_transient(exc: BaseException, retry_on: tuple[type[BaseException], ...] = ()) -> bool:
    """Whether ``exc`` (or the error it was raised from) may not happen again: retry it.

    ``retry_on``: further exception classes the handler declares retryable
    (its ``retry_exceptions``). The explicit cause chain counts (``raise
    PaymentFailed(...) from TimeoutError()`` is transient), implicit context
    does not.
    """
    kinds = TRANSIENT + tuple(retry_on)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def retryable_types(handler_cls: type) -> tuple[type[BaseException], ...]:
    """The handler's ``retry_exceptions`` option as a tuple (empty when it declares none)."""
    meta: Any = getattr(handler_cls, "_meta", None)
    declared: Any = getattr(meta, "retry_exceptions", None)
    if declared is None:
        extra = getattr(meta, "extra", None)
        declared = extra.get("retry_exceptions") if isinstance(extra, dict) else None
    if declared is None:
        declared = getattr(handler_cls, "retry_exceptions", None)
    if not declared:
        return ()
    if isinstance(declared, type):
        declared = (declared,)
    return tuple(t for t in declared if isinstance(t, type) and issubclass(t, BaseException))


def describe_failure(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, on one line (for log lines and lists)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
