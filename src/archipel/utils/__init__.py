"""Small helpers with no domain knowledge (Protean's ``protean.utils``).

The configuration values as enums, as Protean names them —
``domain.config["event_processing"] = Processing.ASYNC.value`` — and
:func:`fully_qualified_name` (``fqn``), and the domain's clock (``Clock``,
``SystemClock``: ``domain.clock``). Nothing here imports the rest of archipel:
every layer may use it.
"""

from __future__ import annotations

import datetime as _dt
from enum import Enum
from typing import Any

from archipel.utils.clock import Clock, SystemClock

__all__ = [
    "Cache",
    "Clock",
    "Database",
    "DomainObjects",
    "IdentityStrategy",
    "IdentityType",
    "Processing",
    "SystemClock",
    "fqn",
    "fully_qualified_name",
    "get_version",
    "utcnow_func",
]


class Processing(Enum):
    """``command_processing`` / ``event_processing`` / ``message_processing`` values."""

    SYNC = "sync"
    ASYNC = "async"


class DomainObjects(Enum):
    """The kinds of domain element, as Protean names them (``DomainObjects.AGGREGATE.value``).

    ``DomainObjects.AGGREGATE.value.lower()`` is archipel's kind (``"aggregate"``).
    """

    AGGREGATE = "AGGREGATE"
    APPLICATION_SERVICE = "APPLICATION_SERVICE"
    COMMAND = "COMMAND"
    COMMAND_HANDLER = "COMMAND_HANDLER"
    DATABASE_MODEL = "DATABASE_MODEL"
    DOMAIN_SERVICE = "DOMAIN_SERVICE"
    EMAIL = "EMAIL"
    ENTITY = "ENTITY"
    EVENT = "EVENT"
    EVENT_HANDLER = "EVENT_HANDLER"
    EVENT_SOURCED_REPOSITORY = "EVENT_SOURCED_REPOSITORY"
    PROCESS_MANAGER = "PROCESS_MANAGER"
    PROJECTION = "PROJECTION"
    PROJECTOR = "PROJECTOR"
    QUERY = "QUERY"
    QUERY_HANDLER = "QUERY_HANDLER"
    REPOSITORY = "REPOSITORY"
    SUBSCRIBER = "SUBSCRIBER"
    UPCASTER = "UPCASTER"
    VALUE_OBJECT = "VALUE_OBJECT"


class Database(Enum):
    """Protean's names of database kinds (``Database.postgresql.value``). archipel runs
    ``memory``, ``sqlite`` and ``postgresql``; a database model's ``database=`` naming
    another kind is a ``ConfigurationError`` that lists them."""

    elasticsearch = "elasticsearch"
    memory = "memory"
    mssql = "mssql"
    mysql = "mysql"
    postgresql = "postgresql"
    sqlite = "sqlite"


class Cache(Enum):
    """Protean's names of cache kinds (``Cache.redis.value``)."""

    memory = "memory"
    redis = "redis"


def get_version() -> str:
    """The installed archipel's version (Protean's ``get_version()``)."""
    import archipel

    return str(archipel.__version__)


class IdentityStrategy(Enum):
    """``identity_strategy`` values: ``FUNCTION`` uses ``Domain(identity_function=...)``."""

    UUID = "uuid"
    FUNCTION = "function"


class IdentityType(Enum):
    """``identity_type`` values."""

    INTEGER = "integer"
    STRING = "string"
    UUID = "uuid"


def fully_qualified_name(obj: Any) -> str:
    """``module.QualName`` of a class, function, or of an instance's class."""
    target = obj if isinstance(obj, type) or callable(obj) else type(obj)
    return f"{target.__module__}.{target.__qualname__}"


fqn = fully_qualified_name


def utcnow_func() -> _dt.datetime:
    """The time now, in UTC and timezone-aware (Protean's ``protean.utils.utcnow_func``,
    for ``DateTime(default=utcnow_func)``; ``auto_now=True`` reads the domain's clock
    instead)."""
    return _dt.datetime.now(_dt.UTC)
