"""Which errors are *transient*: a later attempt may not meet them.

A connection dropped, a call timed out, a lock or a concurrent writer was in
the way, a lease moved. The engine retries them before dead-lettering
(:mod:`archipel.engine.classify`); a handler with ``retries=N`` also retries
them in process, on the synchronous path (:mod:`archipel.handling.retrying`).
"""

from __future__ import annotations

from archipel.errors import (
    BrokerUnavailable,
    DatabaseBusy,
    DatabaseUnavailable,
    ExpectedVersionError,
    LeaseLostError,
)

__all__ = ["TRANSIENT", "is_transient"]

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
