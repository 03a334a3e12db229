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
"""

from archipel.adapters.sql.database import SqlDatabase, create_database
from archipel.adapters.sql.event_store import SqlEventStore, create_event_store
from archipel.adapters.sql.outbox import SqlOutbox
from archipel.adapters.sql.transaction import SqlTransaction

__all__ = [
    "SqlDatabase",
    "SqlEventStore",
    "SqlOutbox",
    "SqlTransaction",
    "create_database",
    "create_event_store",
]
