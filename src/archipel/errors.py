"""The one exception tree of archipel.

Every error archipel raises derives from :class:`ArchipelError`. Errors from
drivers (SQLite, psycopg, redis-py, ...) are translated into these classes at
the adapter boundary, so user code never catches a driver exception. Every
message says what went wrong *and* what to do about it.

This module holds the code. :mod:`archipel.exceptions` (Protean's
``protean.exceptions``) re-exports the same classes under Protean's names,
so ``except archipel.exceptions.ObjectNotFoundError`` catches what archipel
raises. The short names (``ObjectNotFound``, ``InvalidOperation``,
``TooManyObjects``, ``InvalidState``) are aliases of the same classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ArchipelError",
    "ProteanException",
    "ProteanExceptionWithMessage",
    "NoDomainException",
    "InsufficientDataError",
    "SendError",
    "TransactionError",
    "DuplicateCommandError",
    "CommandExpiredError",
    "DeserializationError",
    "InvalidOperationError",
    "ObjectNotFoundError",
    "TooManyObjectsError",
    "ConfigurationError",
    "IncorrectUsageError",
    "NotSupportedError",
    "UnsupportedElementClass",
    "ValidationError",
    "InvalidDataError",
    "InvalidOperation",
    "InvalidStateError",
    "InvalidState",
    "ObjectNotFound",
    "TooManyObjects",
    "ExpectedVersionError",
    "DuplicateMessageError",
    "DatabaseError",
    "DatabaseUnavailable",
    "SchemaMissingError",
    "DatabaseBusy",
    "BrokerError",
    "BrokerUnavailable",
    "BrokerNotShared",
    "LeaseLostError",
]


class ArchipelError(Exception):
    """Root of every exception raised by archipel.

    As Protean's exceptions, each carries a machine-readable diagnostic beside its message:
    ``codes`` (every code the raise attached, e.g. ``["INVARIANT_POST_FAILED"]`` or the
    ``code=`` of an ``@invariant``), ``code`` (the single one, None when there are none or
    several), ``location`` (the class that raised it) and ``extra_info``; ``rationale`` and
    ``fix`` explain a code archipel knows (:mod:`archipel.error_codes`). Pass them as
    keywords: ``ValidationError({...}, code="BALANCE_NEGATIVE")``.
    """

    def __init__(
        self,
        *args: Any,
        code: str | None = None,
        codes: Sequence[str] | str | None = None,
        location: str | None = None,
        extra_info: Any = None,
    ) -> None:
        super().__init__(*args)
        self.extra_info = extra_info
        self.codes: list[str] = _normalize_codes(code, codes)
        self.code: str | None = self.codes[0] if len(self.codes) == 1 else None
        self.location: str | None = location

    @property
    def rationale(self) -> str | None:
        """Why the condition behind :attr:`code` matters, or None for an unknown or no code."""
        spec = _code_spec(self.code)
        return spec.rationale if spec is not None else None

    @property
    def fix(self) -> str | None:
        """What to do about :attr:`code`, or None for an unknown or no code."""
        spec = _code_spec(self.code)
        return spec.fix if spec is not None else None


def _normalize_codes(code: str | None, codes: Sequence[str] | str | None) -> list[str]:
    """``codes`` (or ``code``) as a list of distinct strings, in order; ``codes`` wins."""
    if codes is not None:
        return [str(codes)] if isinstance(codes, str) else list(dict.fromkeys(str(c) for c in codes))
    return [str(code)] if code is not None else []


def _code_spec(code: str | None) -> Any:
    if code is None:
        return None
    from archipel.error_codes import CODES  # only when read: the raise path stays cheap

    return CODES.get(code)


#: Protean's name for the root of the tree
ProteanException = ArchipelError


class NoDomainException(ArchipelError):
    """No domain could be found or loaded in the given module (CLI ``--domain``)."""


class InsufficientDataError(ArchipelError):
    """An object was not given enough data to be built."""


class ConfigurationError(ArchipelError):
    """The domain's configuration or model is inconsistent.

    Raised by ``Domain(...)``, config loading and ``Domain.init()``; the message
    names the offending key or element and the fix.
    """


class IncorrectUsageError(ArchipelError):
    """An API was called in a way it does not support (a programming error)."""


class NotSupportedError(ArchipelError):
    """The configured adapter cannot do what was asked (e.g. a lookup)."""


class UnsupportedElementClass(IncorrectUsageError, NotSupportedError):
    """A class that is not a domain element was registered (``code`` ``UNSUPPORTED_ELEMENT_CLASS``):
    an ``IncorrectUsageError``, and the ``NotSupportedError`` Protean raises."""


class ValidationError(ArchipelError):
    """Data failed validation.

    ``messages`` maps each failing field name (or ``"_entity"`` for rules that
    span fields) to a list of human-readable messages. ``str(error)`` names
    every failing field, so it is safe to show to a user.
    """

    def __init__(
        self,
        messages: dict[str, list[str]] | str | None = None,
        traceback: str | None = None,
        **diagnostic: Any,
    ) -> None:
        if messages is None:
            messages = {}
        elif isinstance(messages, str):
            messages = {"_entity": [messages]}
        self.messages: dict[str, list[str]] = {
            key: list(value) if isinstance(value, (list, tuple)) else [str(value)]
            for key, value in messages.items()
        }
        self.traceback = traceback
        super().__init__(self.messages, **diagnostic)

    def __str__(self) -> str:
        return str(self.messages)


#: Protean's common base of ``ValidationError`` and ``InvalidDataError``
ProteanExceptionWithMessage = ValidationError


class InvalidDataError(ValidationError):
    """Alias kept for code that distinguishes bad input data from rules."""


def _security_event(event_type: str, args: tuple[Any, ...]) -> None:
    # imported here: ``errors`` is the bottom of the tree and its import must stay cheap
    from archipel.utils.wide_events import exception_detail, security_event

    security_event(event_type, detail=exception_detail(args))


class InvalidOperationError(ArchipelError):
    """A business operation is not allowed in the current state.

    Raised while a message is being handled, it writes an ``invalid_operation`` WARNING
    on ``archipel.security`` (:mod:`archipel.utils.wide_events`), as Protean does."""

    def __init__(self, *args: Any, **diagnostic: Any) -> None:
        super().__init__(*args, **diagnostic)
        _security_event("invalid_operation", args)


InvalidOperation = InvalidOperationError


class InvalidStateError(ArchipelError):
    """An object is in a state that does not allow the requested action.

    Raised while a message is being handled, it writes an ``invalid_state`` WARNING on
    ``archipel.security`` (:mod:`archipel.utils.wide_events`), as Protean does."""

    def __init__(self, *args: Any, **diagnostic: Any) -> None:
        super().__init__(*args, **diagnostic)
        _security_event("invalid_state", args)


InvalidState = InvalidStateError


class ObjectNotFoundError(ArchipelError):
    """No object with the requested identity exists."""


ObjectNotFound = ObjectNotFoundError


class TooManyObjectsError(ArchipelError):
    """A lookup that expects one object (``find_by``) matched several."""


TooManyObjects = TooManyObjectsError


class ExpectedVersionError(ArchipelError):
    """Optimistic concurrency conflict: someone else changed the object first.

    ``expected`` is the version the writer based its change on, ``actual`` the
    version found in storage (``None`` when unknown). Reload and retry.
    """

    def __init__(
        self,
        message: str,
        *,
        stream: str | None = None,
        expected: int | None = None,
        actual: int | None = None,
    ) -> None:
        super().__init__(message)
        self.stream = stream
        self.expected = expected
        self.actual = actual


class DuplicateMessageError(ArchipelError):
    """A message with this id was already stored (idempotent append)."""


class DatabaseError(ArchipelError):
    """A database operation failed; the message says what to check.

    ``original_exception`` is the driver's error when there was one (it is
    also the ``__cause__``); never shown to HTTP clients.
    """

    def __init__(self, *args: Any, original_exception: BaseException | None = None, **diagnostic: Any) -> None:
        super().__init__(*args, **diagnostic)
        self.original_exception = original_exception


class TransactionError(ArchipelError):
    """A transaction failed to commit, or failed while being processed.

    Raised too when a unit of work committed but one or more synchronous
    handlers of its events failed (Protean 0.18's behaviour): the writes are
    kept, every other handler ran, ``__cause__`` is the failure (an
    ``ExceptionGroup`` when several failed). ``extra_info`` (a dict or None)
    holds ``original_exception`` (the failure's class name) and
    ``original_message``, as in Protean.
    """

    def __init__(self, *args: Any, extra_info: dict[str, Any] | None = None, **diagnostic: Any) -> None:
        super().__init__(*args, extra_info=extra_info, **diagnostic)


class SendError(ArchipelError):
    """Sending a message to an outside system (e-mail, webhook) failed."""


class DuplicateCommandError(ArchipelError):
    """A command with an idempotency key already processed was submitted again.

    ``original_result`` is the result of the first processing.
    """

    def __init__(self, message: str, original_result: Any = None) -> None:
        super().__init__(message)
        self.original_result = original_result


class CommandExpiredError(ArchipelError):
    """A command was processed after its deadline (``command_type``, ``deadline``)."""

    def __init__(self, message: str, command_type: str | None = None, deadline: Any = None) -> None:
        super().__init__(message)
        self.command_type = command_type
        self.deadline = deadline


class DeserializationError(ArchipelError):
    """A stored or received message could not be turned back into its class.

    ``message_id`` names the message, ``error`` what failed, ``context`` any
    detail (type string, stream) that helps find it.
    """

    def __init__(self, message_id: str, error: str, context: dict[str, Any] | None = None) -> None:
        self.message_id = message_id
        self.error = error
        self.context = dict(context or {})
        super().__init__(f"could not deserialize message {message_id}: {error}")


class DatabaseUnavailable(DatabaseError):
    """The database could not be reached: check its address and that it runs."""


class DatabaseBusy(DatabaseError):
    """A lock or a statement timeout got in the way (another writer held it): try again later."""


class SchemaMissingError(DatabaseError):
    """Tables are missing: run ``archipel database setup``."""


class BrokerError(ArchipelError):
    """A broker operation failed."""


class BrokerUnavailable(BrokerError):
    """The broker could not be reached: check its URL and that it runs."""


class BrokerNotShared(BrokerError):
    """The broker's streams live in another process (the inline broker): this one cannot reach them.

    Raised by operator commands run in their own process (``archipel dlq
    replay``) that would otherwise publish where no consumer ever reads.
    """


class LeaseLostError(ArchipelError):
    """A worker lost its lease (fencing): its work is discarded, not committed."""


def describe(exc: BaseException) -> dict[str, Any]:
    """Return a JSON-friendly description of ``exc`` (no traceback)."""
    return {"type": type(exc).__name__, "message": str(exc)}
