"""``Q`` criteria, ordering and paging translated to SQL, with bound parameters only.

The translation follows the reference semantics of
:func:`archipel.utils.query.compile_predicate` (the memory adapter):

- every leaf is two-valued: a comparison with a NULL column is *false*, so
  ``~Q(price__gt=5)`` matches rows whose price is NULL, as in Python (SQL
  alone would make ``NOT (NULL > 5)`` unknown and drop them);
- ``exact=None`` means ``isnull``; ``in`` with ``None`` among the values
  matches NULL;
- ``contains`` on a JSON list column is membership (JSON equality: ``1`` is
  ``1.0``, ``true`` is not ``1``), elsewhere a substring; ``LIKE`` patterns
  are escaped, so ``%`` and ``_`` in values are literal;
- ``iexact``/``icontains`` lower both sides with Unicode rules: Python's
  ``str.lower`` registered as ``archipel_lower`` on SQLite, ``lower()`` under
  the ICU root collation (``und-x-icu``) on PostgreSQL;
- decimals compare as numbers: NUMERIC on PostgreSQL, text with the
  ``archipel_decimal`` collation on SQLite; NaN equals NaN and sorts above
  every number (SQLite keeps a NaN float as the text ``'NaN'``, which sorts
  above numbers too);
- values are validated and converted to the field's stored form first
  (:func:`archipel.utils.lookups.lookup_normalizer`);
- ``order_by`` sorts NULL last ascending and first descending (Protean
  0.18's order, PostgreSQL's default), then by identity so pages are stable.

Field names never become SQL text: each is looked up among the table's
columns and values are always bind parameters. A filter on a name that is
no column reads it as NULL, like the reference (only ``isnull`` holds); an
``order_by`` on one raises :class:`IncorrectUsageError`. Compiled SQL is cached per *shape* of the query (the
tree of fields and lookups, never the values).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from archipel.adapters.memory.database import normalizer_for
from archipel.adapters.sql.engine import SqlEngine, dumps
from archipel.adapters.sql.records import RecordTable
from archipel.adapters.sql.tables import Kind
from archipel.core.queryset import Criteria
from archipel.errors import IncorrectUsageError, NotSupportedError
from archipel.utils.lookups import TEXT_LOOKUPS, unorderable
from archipel.utils.query import F_LOOKUPS, LOOKUPS, F, Q, split_lookup

__all__ = ["CompiledQuery", "QueryCompiler", "like_escape"]

_ICU_ROOT = "und-x-icu"  # PostgreSQL's ICU root collation: Unicode case mapping
_ESCAPE = "!"  # a backslash would depend on standard_conforming_strings
_TEXT_KINDS = (Kind.TEXT,)
_CACHE_LIMIT = 512


def like_escape(text: str) -> str:
    """``text`` with the LIKE wildcards and the escape character escaped."""
    return (
        text.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")
    )


def _variant(value: Any) -> str:
    # parts of a value that change the SQL (and so the cache key), never the value itself
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (dict, list)):
        return "json"
    return "scalar"


class CompiledQuery:
    """SQL text plus a function building its parameters from one criteria's values."""

    __slots__ = ("sql", "count_sql", "values")

    def __init__(self, sql: str, count_sql: str, values: list[Any]) -> None:
        self.sql = sql
        self.count_sql = count_sql
        self.values = values

    def params(self, limit: int | None, offset: int) -> dict[str, Any]:
        params = {f"p{i}": v for i, v in enumerate(self.values)}
        params["limit__"] = limit if limit is not None else -1
        params["offset__"] = offset
        return params


class _Builder:
    """Walks one ``Q`` tree: SQL expression, value list and a shape key."""

    def __init__(
        self, table: RecordTable, postgres: bool, normalize: Callable[[str, Any, str], Any]
    ) -> None:
        self.table = table
        self.postgres = postgres
        self.normalize = normalize
        self.values: list[Any] = []
        self.shape: list[Any] = []

    def bind(self, value: Any) -> Any:
        name = f"p{len(self.values)}"
        self.values.append(value)
        return sa.bindparam(name)

    def build(self, q: Q) -> Any:
        parts = []
        self.shape.append((q.connector, q.negated, len(q.children)))
        for child in q.children:
            if isinstance(child, Q):
                parts.append(self.build(child))
            else:
                parts.append(self.leaf(*child))
        if not parts:
            combined: Any = sa.true()
        elif q.connector == Q.AND:
            combined = sa.and_(*parts)
        else:
            combined = sa.or_(*parts)
        return sa.not_(combined) if q.negated else combined

    def value(self, field: str, value: Any, lookup: str = "exact") -> Any:
        value = self.normalize(field, value, lookup)
        if self.postgres or value is None:
            return value
        kind = self.table.kinds.get(field)
        # decimal (and big integer) columns hold text compared by their collation
        if kind == Kind.DECIMAL and lookup not in TEXT_LOOKUPS:
            return str(value)
        if isinstance(value, float) and value != value:
            return "NaN"  # how SQLite float columns hold NaN
        return value

    def leaf(self, key: str, value: Any) -> Any:
        field, lookup = split_lookup(key)
        if lookup not in LOOKUPS:  # pragma: no cover - split_lookup only returns known ones
            raise NotSupportedError(f"lookup {lookup!r} is not supported; use one of {LOOKUPS}")
        column = self.table.column(field)
        if column is None:
            # the reference semantics read a missing field as None: only "is null" holds
            holds = (lookup == "isnull" and bool(value)) or (lookup == "exact" and value is None)
            self.shape.append((field, lookup, holds))
            return sa.true() if holds else sa.false()
        kind = self.table.kinds.get(field, Kind.INT)
        if isinstance(value, F):
            return self._column_compare(field, column, lookup, value.name)
        if lookup == "isnull":
            self.shape.append((field, lookup, bool(value)))
            return column.is_(None) if value else column.is_not(None)
        if lookup == "in":
            values = [self.value(field, v, lookup) for v in value]
            has_null = any(v is None for v in values)
            present = [v for v in values if v is not None]
            self.shape.append((field, lookup, len(present), has_null))
            if kind == Kind.JSON:
                present = [dumps(v) for v in present]
            target = self._json(column) if kind == Kind.JSON else column
            test = (
                sa.and_(
                    column.is_not(None),
                    target.in_([self._json(self.bind(v)) if kind == Kind.JSON else self.bind(v) for v in present]),
                )
                if present
                else sa.false()
            )
            return sa.or_(test, column.is_(None)) if has_null else test
        value = self.value(field, value, lookup)
        if lookup == "exact" and value is None:
            self.shape.append((field, "isnull", True))
            return column.is_(None)
        self.shape.append((field, lookup, _variant(value)))
        if value is None:
            # a comparison with NULL is false in the reference semantics
            return sa.false()
        return sa.and_(column.is_not(None), self._compare(column, kind, lookup, value))

    def _column_compare(self, field: str, column: Any, lookup: str, other_name: str) -> Any:
        """``field <lookup> other field`` of the same row (``F``), with the reference NULL rules."""
        other = self.table.column(other_name)
        if other is None:
            raise IncorrectUsageError(
                f"F({other_name!r}): {self.table.schema.name} has no such field; "
                f"fields: {', '.join(self.table.read_names)}"
            )
        if lookup not in F_LOOKUPS:
            raise NotSupportedError(f"F() works with the lookups {', '.join(F_LOOKUPS)}, not {lookup!r}")
        self.shape.append((field, lookup, "F", other_name))
        if lookup == "exact":
            return column.is_not_distinct_from(other)
        op = {"gt": column.__gt__, "gte": column.__ge__, "lt": column.__lt__, "lte": column.__le__}[lookup]
        return sa.and_(column.is_not(None), other.is_not(None), op(other))

    def _text(self, column: Any, kind: str) -> Any:
        return column if kind in _TEXT_KINDS else sa.cast(column, sa.Text())

    def _json(self, expression: Any) -> Any:
        # JSON values compare as JSON (1 is 1.0, key order ignored): jsonb on PostgreSQL
        # (json has no equality), the registered archipel_json_key on SQLite
        if self.postgres:
            return sa.cast(expression, postgresql.JSONB())
        return sa.func.archipel_json_key(expression)

    def _lower(self, expression: Any) -> Any:
        if self.postgres:
            return sa.func.lower(sa.collate(expression, _ICU_ROOT))
        return sa.func.archipel_lower(expression)

    def _compare(self, column: Any, kind: str, lookup: str, value: Any) -> Any:
        if lookup in ("exact", "gt", "gte", "lt", "lte"):
            bound = self.bind(dumps(value) if kind == Kind.JSON else value)
            if kind == Kind.JSON:
                bound = self._json(bound)
                column = self._json(column)
            op = {
                "exact": column.__eq__,
                "gt": column.__gt__,
                "gte": column.__ge__,
                "lt": column.__lt__,
                "lte": column.__le__,
            }[lookup]
            return op(bound)
        if lookup == "contains" and kind == Kind.JSON:
            return self._json_contains(column, value)
        text = self._text(column, kind)
        needle = str(value)
        if lookup == "iexact":
            return self._lower(text) == self._lower(self.bind(needle))
        pattern = {
            "contains": f"%{like_escape(needle)}%",
            "icontains": f"%{like_escape(needle)}%",
            "startswith": f"{like_escape(needle)}%",
            "endswith": f"%{like_escape(needle)}",
        }[lookup]
        if lookup == "icontains":
            return self._lower(text).like(self._lower(self.bind(pattern)), escape=_ESCAPE)
        return text.like(self.bind(pattern), escape=_ESCAPE)

    def _json_contains(self, column: Any, value: Any) -> Any:
        # membership in a JSON list (the reference: ``value in list``)
        if self.postgres:
            document = self._json(column)
            item = sa.func.jsonb_array_elements(document).table_valued("value").alias("e")
            member = item.c.value == self._json(self.bind(dumps(value)))
            return sa.and_(
                sa.func.jsonb_typeof(document) == "array",
                sa.exists(sa.select(sa.literal(1)).select_from(item).where(member)),
            )
        element = sa.func.json_each(column).table_valued("value", "type").alias("e")
        if isinstance(value, (dict, list)):
            match = self._json(element.c.value) == self._json(self.bind(dumps(value)))
        elif isinstance(value, bool):
            match = element.c.type == ("true" if value else "false")
        else:
            match = sa.and_(
                element.c.value == self.bind(value),
                element.c.type != "true",
                element.c.type != "false",
            )
        return sa.and_(
            sa.func.json_type(column) == "array",
            sa.exists(sa.select(sa.literal(1)).select_from(element).where(match)),
        )


class QueryCompiler:
    """Compiles criteria for the tables of one engine, caching SQL by query shape."""

    def __init__(self, engine: SqlEngine) -> None:
        self.engine = engine
        self._cache: dict[Any, tuple[str, str]] = {}
        self._normalizers: dict[str, Callable[[str, Any, str], Any]] = {}

    def order_clauses(self, table: RecordTable, order_by: tuple[str, ...]) -> list[Any]:
        clauses = []
        for key in order_by:
            name, descending = (key[1:], True) if key.startswith("-") else (key, False)
            column = table.column(name)
            if column is None:
                raise IncorrectUsageError(
                    f"cannot order {table.schema.name} by {key!r}: no such field; "
                    f"fields: {', '.join(table.read_names)}"
                )
            if table.kinds.get(name) == Kind.JSON:
                raise IncorrectUsageError(unorderable(table.schema.name, key))
            clauses.append(column.desc().nulls_first() if descending else column.asc().nulls_last())
        # the identity breaks ties, so that pages never overlap or skip rows
        if table.id_field not in {k.lstrip("-") for k in order_by}:
            clauses.append(table.table.c[table.id_field].asc())
        return clauses

    def compile(self, table: RecordTable, criteria: Criteria) -> CompiledQuery:
        normalize = self._normalizers.get(table.name)
        if normalize is None:
            normalize = self._normalizers.setdefault(table.name, normalizer_for(table.schema))
        builder = _Builder(table, self.engine.is_postgres, normalize)
        where = builder.build(criteria.q) if criteria.q.children else None
        key = (table.name, tuple(builder.shape), criteria.order_by)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._compile(table, where, criteria.order_by)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = cached
        return CompiledQuery(cached[0], cached[1], builder.values)

    def _compile(
        self, table: RecordTable, where: Any, order_by: tuple[str, ...]
    ) -> tuple[str, str]:
        t = table.table
        columns = [t.c[n] for n in table.read_names]
        total = sa.func.count().over().label("total__")
        select = sa.select(*columns, total)
        count = sa.select(sa.func.count()).select_from(t)
        if where is not None:
            select = select.where(where)
            count = count.where(where)
        select = select.order_by(*self.order_clauses(table, order_by))
        # LIMIT -1 means "no limit" in SQLite; PostgreSQL takes NULL instead
        limit: Any = sa.bindparam("limit__", type_=sa.Integer())
        if self.engine.is_postgres:
            limit = sa.func.nullif(limit, -1)
        select = select.limit(limit).offset(sa.bindparam("offset__", type_=sa.Integer()))
        return self.engine.compile(select), self.engine.compile(count)
