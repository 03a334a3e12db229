"""Which tables a bulk load may write with binary ``COPY`` on PostgreSQL, and how.

Binary ``COPY`` sends each value in its column type's binary form: the
client picks an encoder per column (psycopg's ``set_types``), and the
server checks nothing but that form. It saves the client's text formatting
and the server's text parsing, and is only safe when the encoder matches
both the column's actual type in the database and the Python type of every
value the rows can carry. :func:`binary_types` says so per table, checked
against the catalog once per bulk loader (once per rebuild), from:

- the projection's field of each column, of an exact class whose cleaned
  values have one Python type: ``String``/``Text`` (``str``),
  ``Identifier`` (``str``, or ``int`` with ``identity_type="integer"``),
  ``Integer`` (64-bit ``int``), ``Boolean`` (``bool``); ``_version`` is an
  ``int``;
- the column's type in the database (``pg_attribute``): ``text`` /
  ``varchar`` for ``str``, ``int2`` / ``int4`` / ``int8`` for ``int``,
  ``bool`` for ``bool``.

Any other column (JSON, floats, decimals, dates and times, a subclass of a
field, a domain type, an altered column...) makes the whole table go
through text ``COPY``, whose values the server parses as an ordinary write
does: nothing is ever stored altered. A value of an unexpected Python type
reaching a binary encoder is an error (psycopg refuses it), never a
conversion.
"""

from __future__ import annotations

from typing import Any

from archipel.adapters.sql.records import RecordTable
from archipel.adapters.sql.tables import VERSION, model_columns
from archipel.fields import Auto, Boolean, Identifier, Integer, String, Text

__all__ = ["binary_types"]

#: the database types a value of each Python type is written to in binary
_COLUMN_TYPES: dict[type, frozenset[str]] = {
    str: frozenset({"text", "varchar"}),
    int: frozenset({"int2", "int4", "int8"}),
    bool: frozenset({"bool"}),
}

#: the column types of a table, as the catalog has them (typname; domains keep their name)
_CATALOG = (
    "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped"
)


def value_type(field: Any) -> type | None:
    """The one Python type the cleaned values of ``field`` have, or None (no binary)."""
    kind = type(field)
    if kind is String or kind is Text:
        return str
    if kind is Identifier or kind is Auto:
        return int if field.identity_type == "integer" else str
    if kind is Integer:  # Integer(big=True) is another class: NUMERIC, not here
        return int
    if kind is Boolean:
        return bool
    return None


def binary_types(table: RecordTable, quoted_name: str, conn: Any) -> list[str] | None:
    """The ``set_types`` names of ``table.read_names`` for a binary ``COPY``, or None
    when some column is not certain to be written faithfully that way (text ``COPY`` then).

    ``conn`` is a psycopg connection (the load's own, in its transaction).
    """
    columns = model_columns(table.schema)
    wanted: list[type | None] = []
    for name in table.names:
        _, field = columns[name]
        wanted.append(None if field is None else value_type(field))
    wanted.append(int)  # _version
    if any(kind is None for kind in wanted):
        return None
    with conn.cursor() as cursor:
        found = dict(cursor.execute(_CATALOG, (quoted_name,)).fetchall())
    c = table.table.c
    types: list[str] = []
    for name, kind in zip((*table.names, VERSION), wanted, strict=True):
        stored = found.get(c[name].name)
        if kind is None or stored not in _COLUMN_TYPES[kind]:
            return None
        types.append("text" if kind is str else stored)
    return types
