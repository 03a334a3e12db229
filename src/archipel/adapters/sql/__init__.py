"""SQL storage: SQLite (the embedded default) and PostgreSQL (production).

SQLAlchemy Core builds the schema (tables generated from
:class:`~archipel.port.schema.ModelSchema`) and compiles every statement
once; the hot path runs the compiled SQL on the pooled DB-API connection
(psycopg 3, sqlite3) with bound parameters only.

Modules: ``engine`` (the pool and dialect facts; ``urls``, ``connections``,
``translate`` (driver errors), ``codec`` (JSON), ``sqlite_functions``), ``tables``
(table generation), ``records`` (per-table statements and conversions),
``query`` (``Q`` to SQL), ``transaction`` (with ``writes``, ``flush``,
``processed``), ``combined`` (one statement per unit of work on PostgreSQL),
``database``, ``event_store`` (with ``event_insert``),
``gapfree`` (commit-safe reading on PostgreSQL), ``outbox``.

The names below are imported when first used: ``echo`` (which the domain imports
whatever its storage) and the other modules that need no SQLAlchemy import without it,
so ``import archipel`` works without the ``sql`` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase, create_database
    from archipel.adapters.sql.event_store import SqlEventStore, create_event_store
    from archipel.adapters.sql.outbox import SqlOutbox
    from archipel.adapters.sql.transaction import SqlTransaction

_HOMES = {
    "SqlDatabase": "database",
    "create_database": "database",
    "SqlEventStore": "event_store",
    "create_event_store": "event_store",
    "SqlOutbox": "outbox",
    "SqlTransaction": "transaction",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "SqlDatabase",
    "SqlEventStore",
    "SqlOutbox",
    "SqlTransaction",
    "create_database",
    "create_event_store",
]
