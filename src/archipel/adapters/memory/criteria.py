"""Query semantics of the in-memory database: filter, sort and page plain records.

The reference semantics every adapter's queries are checked against: numbers
compare as values (NaN above every number), structured values by JSON
equality, ``None`` sorts last ascending and first descending (Protean 0.18,
PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from archipel.core.queryset import Criteria
from archipel.errors import IncorrectUsageError
from archipel.port.schema import ModelSchema
from archipel.utils.lookups import (
    JsonEqual,
    Ordered,
    is_numeric,
    is_structured,
    lookup_normalizer,
    unorderable,
)
from archipel.utils.query import F, compile_predicate, split_lookup

__all__ = ["normalizer_for", "run_criteria", "sort_records"]


def normalizer_for(schema: ModelSchema) -> Callable[[str, Any, str], Any]:
    """Convert criteria values to the form records are compared in (see
    :func:`archipel.utils.lookups.lookup_normalizer`): the stored form, except
    decimals, which compare as values. Invalid values raise ValidationError."""
    return lookup_normalizer(schema.fields)


def _memory_normalizer(schema: ModelSchema) -> Callable[[str, Any, str], Any]:
    """:func:`normalizer_for`, with numbers wrapped in :class:`Ordered` (NaN order)."""
    base = lookup_normalizer(schema.fields)
    numeric = {name for name, field in schema.fields.items() if is_numeric(field)}

    structured = {name for name, field in schema.fields.items() if is_structured(field)}

    def normalize(name: str, value: Any, lookup: str = "exact") -> Any:
        value = base(name, value, lookup)
        if value is None:
            return value
        if name in numeric and lookup not in _TEXT_LOOKUPS:
            return Ordered(value)
        if name in structured and (lookup in ("exact", "in") or isinstance(value, (list, dict))):
            return JsonEqual(value)  # JSON equality, as jsonb and archipel_json_key
        return value

    return normalize


_TEXT_LOOKUPS = frozenset({"iexact", "contains", "icontains", "startswith", "endswith"})


class _TypedView:
    """A record whose numeric fields read as :class:`Ordered` values, for comparing
    and sorting (decimal text sorts wrongly; NaN sorts above every number)."""

    __slots__ = ("record", "typed")

    def __init__(self, record: dict[str, Any], typed: dict[str, Callable[[Any], Any]]) -> None:
        self.record = record
        self.typed = typed

    def get(self, name: str, default: Any = None) -> Any:
        value = self.record.get(name, default)
        convert = self.typed.get(name)
        return value if convert is None or value is None else convert(value)


def _typed_fields(schema: ModelSchema, criteria: Criteria) -> dict[str, Callable[[Any], Any]]:
    """Numeric fields the criteria filter or sort on, with their converter to Ordered."""
    names = {split_lookup(key)[0] for key, _ in criteria.q.leaves()}
    names.update(value.name for _, value in criteria.q.leaves() if isinstance(value, F))
    names.update(key.lstrip("-") for key in criteria.order_by)
    return {
        name: _ordered(field.from_primitive)
        for name, field in schema.fields.items()
        if name in names and is_numeric(field)
    }


def _ordered(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def typed(value: Any) -> Any:
        try:
            return Ordered(convert(value))
        except (ValueError, ArithmeticError):  # an odd stored value: compared as stored
            return value

    return typed


def sort_records(records: list[Any], order_by: tuple[str, ...]) -> list[Any]:
    """Stable multi-key sort; ``-name`` descending; ``None`` sorts last (first
    descending), as Protean 0.18's memory adapter and PostgreSQL."""
    for key in reversed(order_by):
        name, reverse = (key[1:], True) if key.startswith("-") else (key, False)
        records.sort(
            key=lambda r: (r.get(name) is None, r.get(name)),  # noqa: B023
            reverse=reverse,
        )
    return records


def run_criteria(
    rows: Iterable[dict[str, Any]], schema: ModelSchema, criteria: Criteria
) -> tuple[list[dict[str, Any]], int]:
    """Filter, sort and page plain records (reference query semantics)."""
    q = criteria.q
    typed = _typed_fields(schema, criteria)
    if typed:
        rows = [_TypedView(r, typed) for r in rows]  # type: ignore[misc]
    if q.children:
        predicate = compile_predicate(q, _memory_normalizer(schema))
        matched = [r for r in rows if predicate(r)]  # type: ignore[arg-type]
    else:
        matched = list(rows)
    total = len(matched)
    if criteria.order_by:
        for key in criteria.order_by:
            if is_structured(schema.fields.get(key.lstrip("-"))):
                raise IncorrectUsageError(unorderable(schema.name, key))
        sort_records(matched, criteria.order_by)
    start = criteria.offset or 0
    end = None if criteria.limit is None else start + criteria.limit
    page = matched[start:end]
    if typed:
        page = [view.record for view in page]  # type: ignore[attr-defined]
    return page, total
