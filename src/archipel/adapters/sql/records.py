"""Per-table statements and value conversions, computed once per schema.

A :class:`RecordTable` holds the SQL text of every statement a transaction
runs on one model table (get, insert, update, delete, version lookup),
compiled once by SQLAlchemy for the engine's dialect, and the converters
between a record's primitive values and the driver's values. Only values
that need it are converted (JSON, and on the way back dates, decimals and
SQLite booleans), so a row becomes a record in one dict display written for
the table's columns (:attr:`RecordTable.record`).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from archipel.adapters.sql.array_binds import float_array, int_array, text_array
from archipel.adapters.sql.engine import SqlEngine, dumps, loads
from archipel.adapters.sql.tables import VERSION, Kind, constraint_name, model_columns, model_table
from archipel.port.conflicts import UniqueKey
from archipel.port.schema import ModelSchema

__all__ = ["RecordTable"]

# bind names that cannot collide with a field name (fields are identifiers without "__")
PK_PARAM = "pk__"
EXPECTED_PARAM = "expected__"


def _decimal_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        # SQLite stores a NUMERIC as REAL when that is exact to 15 digits: repr is exact
        return str(decimal.Decimal(repr(value)))
    return str(value)


def _float_out(value: Any) -> Any:
    # SQLite: NaN is stored as the text 'NaN' (sqlite3 binds a NaN float as NULL)
    return float(value) if isinstance(value, str) else value


def _float_in(value: Any) -> Any:
    # Float(allow_non_finite=True) has "NaN"/"Infinity"/"-Infinity" as primitive text
    if isinstance(value, str):
        value = float(value)
    return "NaN" if value != value else value


def _float_in_postgres(value: Any) -> Any:
    return float(value) if isinstance(value, str) else value


def _iso(value: Any) -> Any:
    return None if value is None or isinstance(value, str) else value.isoformat()


def _bool(value: Any) -> Any:
    return None if value is None else bool(value)


def _json_in(value: Any) -> Any:
    return None if value is None else dumps(value)


def _json_out(value: Any) -> Any:
    return None if value is None or not isinstance(value, (str, bytes)) else loads(value)


def _same(params: dict[str, Any]) -> Any:
    return params


def _picker(names: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    """The values of ``names`` in a params dict, as a tuple in that order (one C call)."""
    if len(names) == 1:
        (name,) = names
        return lambda params: (params[name],)
    return itemgetter(*names)


def _record_builder(
    names: tuple[str, ...], readers: dict[str, Callable[[Any], Any]]
) -> Callable[[Any], dict[str, Any]]:
    """``row -> record`` for rows of ``names``: one dict display written for these columns.

    A value with a reader is converted unless it is NULL. The generated code
    holds only ``repr`` of the names and row indexes (no name is ever code).
    """
    namespace: dict[str, Any] = {}
    items = []
    for i, name in enumerate(names):
        reader = readers.get(name)
        if reader is None:
            items.append(f"{name!r}: row[{i}]")
        else:
            namespace[f"read{i}"] = reader
            items.append(f"{name!r}: None if row[{i}] is None else read{i}(row[{i}])")
    source = f"def record(row):\n    return {{{', '.join(items)}}}"
    exec(source, namespace)  # noqa: S102 - generated from repr() of column names only
    return namespace["record"]  # type: ignore[no-any-return]


def _reader(kind: str, postgres: bool) -> Callable[[Any], Any] | None:
    if kind == Kind.DECIMAL:
        return _decimal_text
    if postgres:
        return _iso if kind in (Kind.DATE, Kind.DATETIME) else None
    if kind == Kind.BOOL:
        return _bool
    if kind == Kind.FLOAT:
        return _float_out
    if kind == Kind.JSON:
        return _json_out
    return None


class RecordTable:
    """Statements and conversions for one :class:`ModelSchema` on one engine."""

    def __init__(self, schema: ModelSchema, engine: SqlEngine, metadata: sa.MetaData) -> None:
        postgres = engine.is_postgres
        self.schema = schema
        self.name = schema.table
        self.table = model_table(schema, metadata, postgres)
        self.id_field = schema.id_field
        columns = model_columns(schema)
        self.kinds: dict[str, str] = {name: kind for name, (kind, _) in columns.items()}
        #: stored columns in table order, without ``_version``
        self.names: tuple[str, ...] = tuple(columns)
        self.json_names: tuple[str, ...] = tuple(n for n, k in self.kinds.items() if k == Kind.JSON)
        #: float columns: non-finite values arrive as text; SQLite writes NaN as text
        self.float_names: tuple[str, ...] = tuple(
            n for n, k in self.kinds.items() if k == Kind.FLOAT
        )
        self._float_in = _float_in_postgres if postgres else _float_in
        # bind(): where the values needing a conversion are (PostgreSQL converts a float
        # column's value only when it is text: a non-finite primitive)
        self._json_at = tuple(i for i, n in enumerate(self.names) if n in self.json_names)
        self._float_at = tuple(i for i, n in enumerate(self.names) if n in self.float_names)
        self._floats_as_text_only = postgres
        # unnest_binds(): columns sent as array text (floats: binary arrays) when their values allow it
        self._int_binds = (*(n for n in self.names if self.kinds[n] == Kind.INT), VERSION)
        self._text_binds = tuple(n for n in self.names if self.kinds[n] not in (Kind.INT, Kind.FLOAT))
        #: unique constraint (PostgreSQL's name, SQLite's ``table.column`` list) -> the field,
        #: or the fields of a unique index (declare_indexes adds those)
        self.unique_columns: dict[str, UniqueKey] = {
            constraint_name(self.name, f"{name}_key"): name
            for name, (_, field) in columns.items()
            if name != self.id_field and field is not None and getattr(field, "unique", False)
        }
        self.pk_constraint = constraint_name(self.name, "pkey")
        #: the columns read back, in select order: fields, then _version
        self.read_names: tuple[str, ...] = (*self.names, VERSION)
        self.readers: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
            (name, reader)
            for name in self.names
            if (reader := _reader(self.kinds[name], postgres)) is not None
        )
        t = self.table
        c = t.c
        pk = c[self.id_field] == sa.bindparam(PK_PARAM)
        compile_ = engine.compile
        self._keys: dict[str, tuple[str, ...]] = {}
        #: the row of one identity: bound from ``(identity,)`` (a positional placeholder)
        self.select_sql, order = engine.compile_positional(
            sa.select(*[c[n] for n in self.read_names]).where(pk)
        )
        if order != (PK_PARAM,):  # pragma: no cover - SQLAlchemy changed the statement
            raise AssertionError(f"the select by identity binds {order}")
        #: what a read by identity outside a transaction runs with ``(identity,)``
        #: (:meth:`SqlEngine.fetch`): on PostgreSQL a named prepared statement run with
        #: one libpq call (:mod:`~archipel.adapters.sql.prepared`), on SQLite ``select_sql``
        self.select_statement: Any = self.select_sql
        if postgres:
            from archipel.adapters.sql.prepared import PreparedStatement

            self.select_statement = PreparedStatement(
                compile_(sa.select(*[c[n] for n in self.read_names]).where(pk))
            )
        #: ``record(row)``: the primitive record (with ``_version``) of a row in
        #: ``read_names`` order; one dict display, values converted where needed
        self.record: Callable[[Any], dict[str, Any]] = _record_builder(
            self.read_names, dict(self.readers)
        )
        insert = t.insert().values({n: sa.bindparam(n, type_=c[n].type) for n in self.read_names})
        update = (
            t.update()
            .where(pk, c[VERSION] == sa.bindparam(EXPECTED_PARAM))
            .values(
                {n: sa.bindparam(n, type_=c[n].type) for n in self.read_names if n != self.id_field}
            )
        )
        #: ``insert_sql`` / ``update_sql`` take ``insert_args(params)`` / ``update_args(params)``
        #: of :meth:`params` (with the identity and guard for an update): the dict itself on
        #: PostgreSQL; on SQLite the statements have ``?`` placeholders, bound from a tuple
        #: in their order (sqlite3 looks every name up at every execution otherwise)
        self.insert_args: Callable[[dict[str, Any]], Any]
        self.update_args: Callable[[dict[str, Any]], Any]
        #: ``insert_row(record, version)``: ``insert_args(params(record, version))``, on SQLite
        #: a tuple made straight from the record when no value needs converting
        self.insert_row: Callable[[dict[str, Any], int], Any]
        #: PostgreSQL: ``insert_sql`` / ``update_sql`` as prepared statements, run by
        #: name with one libpq call (a row committed alone, ``pg_commit.commit_row``)
        self.insert_statement: Any = None
        self.update_statement: Any = None
        if postgres:
            from archipel.adapters.sql.prepared import PreparedStatement

            self.insert_sql = compile_(insert)
            self.update_sql = compile_(update)
            self.insert_statement = PreparedStatement(self.insert_sql)
            self.update_statement = PreparedStatement(self.update_sql)
            self.insert_args = self.update_args = _same
            self.insert_row = self.params
        else:
            self.insert_sql, order = engine.compile_positional(insert)
            self.insert_args = _picker(order)
            plain = order == self.read_names and not self.json_names and not self.float_names
            self.update_sql, order = engine.compile_positional(update)
            self.update_args = _picker(order)
            self.insert_row = self._plain_row if plain else self._converted_row
        self._dialect = engine.dialect
        self._unnest_sql: str | None = None
        self.delete_sql = compile_(t.delete().where(pk))
        self.version_sql = compile_(sa.select(c[VERSION]).where(pk))

    @property
    def unnest_insert_sql(self) -> str:
        """PostgreSQL: one ``INSERT ... SELECT * FROM unnest(<one array per column>)``.

        Any number of rows in one short statement (parsed once, cached by the
        driver): bind each column's values as a list (:meth:`columns_params`), or as the
        text of its array (:meth:`unnest_binds`: a ``str`` the cast reads as the array).
        """
        found = self._unnest_sql
        if found is None:
            dialect = self._dialect
            quote = dialect.identifier_preparer.quote
            c = self.table.c
            columns = ", ".join(quote(n) for n in self.read_names)
            # binary arrays: psycopg's text array dumper checks every element against a
            # quoting regular expression (~2 us per string; binary: ~0.3 us). The element
            # type oid is the same either way, so PostgreSQL converts the values alike
            arrays = ", ".join(
                f"%({n})b::{c[n].type.compile(dialect=dialect)}[]" for n in self.read_names
            )
            found = self._unnest_sql = (
                f"INSERT INTO {quote(self.name)} ({columns}) SELECT * FROM unnest({arrays})"  # noqa: S608 - quoted identifiers
            )
        return found

    def columns_params(self, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        """Bind values of :meth:`unnest_insert_sql` from :meth:`params` of each row."""
        return {name: [row[name] for row in rows] for name in self.read_names}

    def unnest_params(self, records: list[dict[str, Any]], versions: list[int]) -> dict[str, list[Any]]:
        """``columns_params([params(r, v) for r, v in zip(records, versions)])``, column by
        column: no dict per row (an engine batch's rows, one array per column)."""
        columns: dict[str, list[Any]] = {name: [record.get(name) for record in records] for name in self.names}
        for name in self.json_names:
            columns[name] = [None if value is None else dumps(value) for value in columns[name]]
        float_in = self._float_in
        for name in self.float_names:
            columns[name] = [None if value is None else float_in(value) for value in columns[name]]
        columns[VERSION] = versions
        return columns

    def unnest_binds(self, records: list[dict[str, Any]], versions: list[int]) -> dict[str, Any]:
        """:meth:`unnest_params` as sent (PostgreSQL): a column of plain strings or ints as
        the text of its array, of floats as a binary array
        (:mod:`~archipel.adapters.sql.array_binds`), others as lists."""
        columns: dict[str, Any] = self.unnest_params(records, versions)
        for name in self._int_binds:
            columns[name] = int_array(columns[name])
        for name in self._text_binds:
            columns[name] = text_array(columns[name])
        for name in self.float_names:
            columns[name] = float_array(columns[name])
        return columns

    # -- conversions ----------------------------------------------------------
    def params(self, record: dict[str, Any], version: int) -> dict[str, Any]:
        """Bind values of ``record`` stored at ``version`` (missing fields are NULL)."""
        get = record.get
        params = {name: get(name) for name in self.names}
        for name in self.json_names:
            value = params[name]
            if value is not None:
                params[name] = dumps(value)
        float_in = self._float_in
        for name in self.float_names:
            value = params[name]
            if value is not None:
                params[name] = float_in(value)
        params[VERSION] = version
        return params

    def _plain_row(self, record: dict[str, Any], version: int) -> tuple[Any, ...]:
        return (*map(record.get, self.names), version)

    def _converted_row(self, record: dict[str, Any], version: int) -> Any:
        return self.insert_args(self.params(record, version))

    def keys(self, prefix: str) -> tuple[str, ...]:
        """Bind names ``prefix + column`` for ``names``, ``_version``, identity and guard
        (cached: the one-statement commit prefixes every write's parameters)."""
        found = self._keys.get(prefix)
        if found is None:
            found = (
                *[prefix + n for n in self.read_names],
                prefix + PK_PARAM,
                prefix + EXPECTED_PARAM,
            )
            self._keys[prefix] = found
        return found

    def bind(
        self, record: dict[str, Any], version: int, params: dict[str, Any], keys: tuple[str, ...]
    ) -> None:
        """Put ``record``'s bind values (see :meth:`params`) into ``params`` under ``keys``."""
        names = self.names
        values = list(map(record.get, names))
        for i in self._json_at:
            value = values[i]
            if value is not None:
                values[i] = dumps(value)
        if self._float_at:
            float_in = self._float_in
            text_only = self._floats_as_text_only
            for i in self._float_at:
                value = values[i]
                if value is not None and (value.__class__ is str or not text_only):
                    values[i] = float_in(value)
        params.update(zip(keys, values, strict=False))  # (keys go on: version, identity, guard)
        params[keys[len(names)]] = version

    def column(self, name: str) -> Any:
        """The SQLAlchemy column ``name``, or None when the table has no such column."""
        return self.table.c.get(name)
