"""``QuerySet.raw`` on SQL databases: a developer's ``SELECT``, its rows as records.

The statement is the developer's own text; values are never spliced into it:
``:name`` placeholders are bound from a dict, through SQLAlchemy's ``text()``
compiled for the database's driver. The rows' columns are matched to the
element's fields by name and read back as a query's would be, so the objects
built from them are the ones ``repository.get`` gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from archipel.errors import ValidationError

if TYPE_CHECKING:
    from archipel.adapters.sql.database import SqlDatabase
    from archipel.port.schema import ModelSchema

__all__ = ["raw_records"]


def raw_records(
    db: SqlDatabase,
    run: Callable[[Callable[[Any], Any]], Any],
    schema: ModelSchema,
    query: str,
    data: dict[str, Any],
) -> list[dict[str, Any]]:
    """The records of ``query`` (a statement returning rows of ``schema``'s table),
    ``data`` bound to its ``:name`` placeholders; ``run(action)`` runs
    ``action(driver_connection)`` where the caller reads (its transaction, or alone)."""
    engine = db.engine
    compiled = sa.text(query).compile(dialect=engine.dialect)
    wanted = list(compiled.binds)
    missing = [name for name in wanted if name not in data]
    if missing:
        raise ValidationError(
            {"data": [f"no value for placeholder(s) {', '.join(sorted(missing))}"]}
        )
    params = compiled.construct_params(data)
    args: Any = (
        tuple(params[n] for n in compiled.positiontup or ()) if compiled.positional else params
    )
    sql = str(compiled)

    def fetch(conn: Any) -> tuple[list[str], list[Any]]:
        cursor = conn.cursor()
        try:
            cursor.execute(sql, args)
            if cursor.description is None:
                raise ValidationError(
                    {"query": ["must return rows (a SELECT over the element's table)"]}
                )
            return [d[0] for d in cursor.description], cursor.fetchall()
        finally:
            cursor.close()

    names, rows = run(fetch)
    table = db.record_table(schema)
    if schema.id_field not in names:
        raise ValidationError(
            {
                "query": [
                    f"must return the identity column {schema.id_field!r} (got {', '.join(names)})"
                ]
            }
        )
    known = set(table.read_names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValidationError(
            {"query": [f"returns column(s) {', '.join(unknown)} that {schema.table} does not have"]}
        )
    records = []
    readers = [(name, reader) for name, reader in table.readers if name in names]
    for row in rows:
        record = dict(zip(names, row, strict=True))
        for name, reader in readers:
            value = record[name]
            if value is not None:
                record[name] = reader(value)
        records.append(record)
    return records
