"""Is a handler's failure worth retrying? Transient errors are; business errors never are.

A *transient* error says the world was not ready — a connection dropped, a
call timed out, a lock or a concurrent writer was in the way, a lease moved —
and the same message may well succeed a moment later: it is retried with
capped exponential backoff (``max_retries`` times) before the dead-letter
queue. A *business* error — a :class:`~archipel.errors.ValidationError`, an
:class:`~archipel.errors.InvalidOperationError`, an invalid state, a
configuration or usage error — fails the same way every time: retrying only
delays the operator and floods the log, so the message is dead-lettered at
once, with its error and traceback, to be replayed after the fix.

Any other exception (``IndexError``, ``ObjectNotFoundError``...) may be a bug,
or a race of eventual consistency (a command handled before the event that
creates what it needs): it is retried like a transient error, as Protean does,
then dead-lettered. A handler that declares ``retry_exceptions`` (a tuple of
exception classes, e.g. a payment provider's ``RateLimited``) says exactly
what else is worth retrying: besides the transient errors only those are, and
everything else is dead-lettered at once (:func:`should_retry`).

Outages of the engine's own database or broker (``DatabaseUnavailable``,
``BrokerUnavailable``) never count against a message at all: the consumer
waits for them to pass (:mod:`.consumer`).
"""

from __future__ import annotations

from archipel.errors import (
    ConfigurationError,
    IncorrectUsageError,
    InvalidDataError,
    InvalidOperationError,
    InvalidStateError,
    NotSupportedError,
    ValidationError,
)
from archipel.utils.transient import TRANSIENT, is_transient

__all__ = ["TRANSIENT", "BUSINESS", "is_transient", "should_retry", "describe_failure"]

#: errors that fail the same way every time: dead-lettered at once, never retried
BUSINESS: tuple[type[BaseException], ...] = (
    ValidationError,
    InvalidDataError,
    InvalidOperationError,
    InvalidStateError,
    ConfigurationError,
    IncorrectUsageError,
    NotSupportedError,
)


def should_retry(exc: BaseException, retry_on: tuple[type[BaseException], ...] | None = None) -> bool:
    """Whether a handler's failure ``exc`` is retried (else it is dead-lettered at once).

    ``retry_on``: the handler's ``retry_exceptions`` (None when it declares none).
    Transient errors are always retried; with ``retry_on`` declared, only those
    besides them; without, everything but business errors (:data:`BUSINESS`).
    """
    if is_transient(exc, retry_on or ()):
        return True
    if retry_on is not None:
        return False
    return not isinstance(exc, BUSINESS)


def describe_failure(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, on one line (for log lines and lists)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
