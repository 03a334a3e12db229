"""Protean's ``protean.exceptions``, in archipel: the same classes as :mod:`archipel.errors`.

:mod:`archipel.errors` holds the code (the design's one exception tree); this
module re-exports it under the names Protean documents, so a ported
``from protean.exceptions import ObjectNotFoundError`` becomes
``from archipel.exceptions import ObjectNotFoundError`` and catches exactly
what archipel raises (the classes are identical, not copies).
"""

from archipel.errors import (
    ArchipelError,
    BrokerError,
    BrokerUnavailable,
    CommandExpiredError,
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailable,
    DeserializationError,
    DuplicateCommandError,
    DuplicateMessageError,
    ExpectedVersionError,
    IncorrectUsageError,
    InsufficientDataError,
    InvalidDataError,
    InvalidOperationError,
    InvalidStateError,
    LeaseLostError,
    NoDomainException,
    NotSupportedError,
    ObjectNotFoundError,
    ProteanException,
    ProteanExceptionWithMessage,
    SchemaMissingError,
    SendError,
    TooManyObjectsError,
    TransactionError,
    ValidationError,
)

#: the category of archipel's deprecation warnings (deprecated events, ...): Protean's name
ProteanDeprecationWarning = DeprecationWarning

__all__ = [
    "ArchipelError",
    "BrokerError",
    "BrokerUnavailable",
    "CommandExpiredError",
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailable",
    "DeserializationError",
    "DuplicateCommandError",
    "DuplicateMessageError",
    "ExpectedVersionError",
    "IncorrectUsageError",
    "InsufficientDataError",
    "InvalidDataError",
    "InvalidOperationError",
    "InvalidStateError",
    "LeaseLostError",
    "NoDomainException",
    "NotSupportedError",
    "ObjectNotFoundError",
    "ProteanDeprecationWarning",
    "ProteanException",
    "ProteanExceptionWithMessage",
    "SchemaMissingError",
    "SendError",
    "TooManyObjectsError",
    "TransactionError",
    "ValidationError",
]
