"""Which handler failures are retried (transient) and which go to the dead-letter queue at once."""

from __future__ import annotations

import pytest

from archipel.engine.classify import describe_failure, is_transient, should_retry
from archipel.errors import (
    BrokerUnavailable,
    DatabaseBusy,
    DatabaseUnavailable,
    ExpectedVersionError,
    InvalidOperation,
    LeaseLostError,
    ObjectNotFound,
    ValidationError,
)


class RateLimited(Exception):
    """A payment provider's 'try again later'."""


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError("peer reset"),
        TimeoutError("slow"),
        DatabaseUnavailable("down"),
        DatabaseBusy("database is locked"),
        BrokerUnavailable("down"),
        ExpectedVersionError("conflict"),
        LeaseLostError("moved"),
    ],
)
def test_transient_errors_are_retried(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValidationError({"amount": ["must be positive"]}),
        InvalidOperation("already shipped"),
        ObjectNotFound("no such book"),
        ValueError("bug"),
        KeyError("bug"),
        RateLimited("later"),
    ],
)
def test_business_errors_and_bugs_are_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


@pytest.mark.parametrize(
    "exc", [ValidationError({"amount": ["must be positive"]}), InvalidOperation("already shipped")]
)
def test_business_errors_are_never_retried(exc: BaseException) -> None:
    assert not should_retry(exc)
    assert not should_retry(exc, (RateLimited,))


@pytest.mark.parametrize("exc", [IndexError("not there yet"), ObjectNotFound("no such book"), KeyError("k")])
def test_other_errors_are_retried_unless_the_handler_says_what_is(exc: BaseException) -> None:
    # a race of eventual consistency looks like a bug: retried, as Protean does
    assert should_retry(exc)
    assert not should_retry(exc, (RateLimited,))
    assert should_retry(ConnectionResetError(), (RateLimited,))
    assert should_retry(RateLimited(), (RateLimited,))


def test_a_handler_widens_the_transient_set() -> None:
    assert is_transient(RateLimited("later"), (RateLimited,))
    assert not is_transient(InvalidOperation("no"), (RateLimited,))


def test_an_explicit_cause_counts() -> None:
    try:
        try:
            raise TimeoutError("provider")
        except TimeoutError as inner:
            raise RuntimeError("payment failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    try:
        try:
            raise TimeoutError("provider")
        except TimeoutError:
            raise RuntimeError("payment failed")  # noqa: B904 - implicit context on purpose
    except RuntimeError as outer:
        assert not is_transient(outer)


def test_describe_failure_is_one_line() -> None:
    assert describe_failure(ValueError("a\n  b")) == "ValueError: a b"
    assert describe_failure(KeyError()) == "KeyError"
