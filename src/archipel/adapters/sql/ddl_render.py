"""Rendering the ``CREATE INDEX`` statements of declared indexes without a database
(``archipel schema render --indexes``, Protean's command).

The statements are the ones ``archipel database setup`` runs: the same table
description and :func:`~archipel.adapters.sql.indexes.declare_indexes`,
compiled for a dialect instead of executed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from archipel.adapters.sql.compiling import StatementCompiling
from archipel.adapters.sql.indexes import declare_indexes, raw_index_ddl
from archipel.adapters.sql.records import RecordTable
from archipel.errors import IncorrectUsageError
from archipel.port.schema import ModelSchema

__all__ = ["RENDER_DIALECTS", "check_dialect", "render_index_ddl"]

#: the dialects archipel stores in (Protean also renders mssql, mysql and mariadb)
RENDER_DIALECTS = ("postgresql", "sqlite")


class _Compiler(StatementCompiling):
    """What :class:`RecordTable` needs of an engine: a dialect to compile for."""

    def __init__(self, dialect: str) -> None:
        self.is_postgres = dialect == "postgresql"
        self.dialect: Any = (
            postgresql.psycopg.dialect() if self.is_postgres else sqlite.dialect()  # type: ignore[no-untyped-call]
        )
        self._positional_dialect = None


def check_dialect(dialect: str) -> None:
    """Raise :class:`IncorrectUsageError` naming the supported dialects for any other."""
    if dialect not in RENDER_DIALECTS:
        raise IncorrectUsageError(
            f"unknown dialect {dialect!r}: archipel renders {', '.join(RENDER_DIALECTS)} "
            "(the databases it stores in)"
        )


def render_index_ddl(schema: ModelSchema, dialect: str) -> list[str]:
    """The ``CREATE INDEX IF NOT EXISTS`` statements of ``schema``'s declared indexes."""
    check_dialect(dialect)
    if not schema.indexes:
        return []
    compiler = _Compiler(dialect)
    table = RecordTable(schema, compiler, sa.MetaData())  # type: ignore[arg-type]
    declare_indexes(table, compiler.is_postgres)
    statements = [
        str(sa.schema.CreateIndex(index, if_not_exists=True).compile(dialect=compiler.dialect)).strip()
        for index in sorted(table.table.indexes, key=lambda i: str(i.name))
    ]
    # Index.from_sql(...): its DDL as written, for its dialect only (after the others, as Protean)
    statements += raw_index_ddl(schema, dialect)
    return statements
