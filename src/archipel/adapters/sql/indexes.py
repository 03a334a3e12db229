"""Declared indexes (``indexes=[Index(...)]``) as SQLAlchemy ``Index`` objects of a record table.

They are attached to the table, so ``setup`` creates them with the table
(``CREATE INDEX IF NOT EXISTS``). A partial index's ``where=Q(...)`` is
compiled by the query compiler with its values inlined; ``include`` columns
are PostgreSQL's (``INCLUDE``): elsewhere the index is built without them,
with a warning. An ``Index.from_sql(dialect, ddl)`` runs its DDL when the table is
created on a database of its dialect (as Protean's; :func:`raw_index_ddl`), and
nowhere else.
"""

from __future__ import annotations

import warnings
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

from archipel.adapters.memory.database import normalizer_for
from archipel.adapters.sql.query import _Builder
from archipel.adapters.sql.records import RecordTable
from archipel.adapters.sql.tables import constraint_name

__all__ = ["declare_indexes", "raw_index_ddl"]


def _where(table: RecordTable, q: Any, postgres: bool) -> Any:
    builder = _Builder(table, postgres, normalizer_for(table.schema))
    expression: sa.ColumnElement[Any] = builder.build(q)
    values = builder.values

    def inline(element: Any, **_kw: Any) -> Any:
        if isinstance(element, BindParameter) and element.key.startswith("p") and element.key[1:].isdigit():
            return sa.literal(values[int(element.key[1:])], type_=element.type)
        return None

    return visitors.replacement_traverse(expression, {}, inline)


def declare_indexes(table: RecordTable, postgres: bool) -> None:
    """Attach ``table.schema.indexes`` to ``table.table`` (once per record table)."""
    t = table.table
    for index in table.schema.indexes:
        if not hasattr(index, "fields"):  # Index.from_sql: see raw_index_ddl
            continue
        columns = [t.c[f].desc() if f in index.desc else t.c[f] for f in index.fields]
        name = index.name or constraint_name(table.name, "ix_" + "_".join(index.fields))
        options: dict[str, Any] = {}
        if index.where is not None:
            where = _where(table, index.where, postgres)
            options["postgresql_where"] = where
            options["sqlite_where"] = where
        if index.include:
            if postgres:
                options["postgresql_include"] = list(index.include)
            else:
                warnings.warn(
                    f"{table.schema.name}: Index{index.fields} include={index.include} is "
                    "PostgreSQL-only; the index is built without the covering columns",
                    stacklevel=2,
                )
        sa.Index(name, *columns, unique=index.unique, **options)
        if index.unique:
            # a violation is reported like a unique field's: a ValidationError naming it
            # (PostgreSQL names the index; SQLite lists the table's columns)
            key = index.fields[0] if len(index.fields) == 1 else tuple(index.fields)
            table.unique_columns[name] = key
            table.unique_columns[", ".join(f"{table.name}.{f}" for f in index.fields)] = key


def raw_index_ddl(schema: Any, dialect: str) -> list[str]:
    """The DDL of ``schema``'s ``Index.from_sql(dialect, ...)`` declarations, as written
    (``setup`` runs it when it creates the table, as Protean does)."""
    return [index.ddl.strip() for index in schema.indexes if getattr(index, "dialect", None) == dialect]
