"""Lookup values checked against their field, and the one order of numbers.

Every adapter converts the value of a ``field__lookup=value`` criterion with
:func:`lookup_normalizer` before comparing, so a value the field could never
hold is the same :class:`ValidationError` on every store (never a driver
error on one and zero rows on another). The rules:

- ``None`` with any lookup but ``exact``, ``isnull`` and ``in`` matches no row;
- ``exact``/``gt``/... values are converted as the field converts a value
  (``Integer`` 64-bit, text without NUL, ``DateTime`` to UTC, ...) but not
  checked against its constraints (``max_length``, ``choices``): a longer
  value simply matches nothing;
- text lookups (``contains``, ``startswith``, ...) take text;
- ``contains`` on a ``List`` is membership: the value is converted as an item;
  other text lookups on ``List``/``Dict`` fields, and comparisons of them
  with a value that is no list or dict, are validation errors;
- NaN (fields with ``allow_non_finite=True``) equals NaN and sorts above
  every number, as in PostgreSQL; :class:`Ordered` gives memory that order.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from typing import Any

from archipel.errors import ValidationError
from archipel.fields.base import Field, FieldError, shown
from archipel.fields.composite import Association, Dict, List, Reference
from archipel.fields.limits import check_json, check_text
from archipel.fields.simple import Decimal as DecimalField
from archipel.fields.simple import Float as FloatField
from archipel.fields.simple import Integer as IntegerField

__all__ = [
    "TEXT_LOOKUPS",
    "lookup_normalizer",
    "Ordered",
    "is_numeric",
    "is_structured",
    "unorderable",
]

#: lookups that compare text, whatever the field's type
TEXT_LOOKUPS = frozenset({"iexact", "contains", "icontains", "startswith", "endswith"})


def is_numeric(field: Field | None) -> bool:
    """Fields whose stored form compares as numbers (decimals, floats, big integers)."""
    return isinstance(field, (DecimalField, FloatField)) or (
        isinstance(field, IntegerField) and bool(getattr(field, "big", False))
    )


def is_structured(field: Field | None) -> bool:
    """Fields stored as JSON (lists, dicts, embedded elements): no order is defined on them."""
    return isinstance(field, (List, Dict, Association)) and not isinstance(field, Reference)


def unorderable(element: str, key: str) -> str:
    """The message of ordering ``element`` by a structured field ``key``."""
    return (
        f"cannot order {element} by {shown(key)}: lists, dicts and embedded elements have no "
        "order that every store shares; order by a scalar field"
    )


def lookup_normalizer(fields: Mapping[str, Field]) -> Callable[[str, Any, str], Any]:
    """``normalize(name, value, lookup="exact")``: the criterion value in stored form.

    Decimals, floats and big integers stay numbers (their stored text, if any, does
    not compare like their values). Raises :class:`ValidationError` naming the field when
    the value cannot be one of its values.
    """

    def normalize(name: str, value: Any, lookup: str = "exact") -> Any:
        field = fields.get(name)
        if field is None or value is None:
            return value
        try:
            if isinstance(field, List) and lookup == "contains":
                content = field.content
                if content is None:
                    return check_json(value)
                return content.as_primitive(content.cast(value))
            if isinstance(field, (List, Dict)) and lookup in TEXT_LOOKUPS:
                raise FieldError(
                    f"the {lookup} lookup does not apply to a {type(field).__name__} field"
                    + ("; contains tests membership" if isinstance(field, List) else "")
                )
            if lookup in TEXT_LOOKUPS:
                if isinstance(value, (dict, list, tuple, set)):
                    raise FieldError(f"a {lookup} lookup takes text, got {type(value).__name__}")
                return check_text(value if type(value) is str else str(value))
            if is_numeric(field):
                return field.cast(value)  # compared as values, not as their stored text
            return field.as_primitive(field.cast(value))
        except FieldError as exc:
            raise ValidationError(
                {name: [f"{lookup} lookup value {shown(value)}: {m}" for m in exc.messages]}
            ) from None

    return normalize


class Ordered:
    """A number (float, Decimal or int) ordered as every store orders it.

    NaN equals NaN and sorts above every number (PostgreSQL's order); numbers
    compare as values across types. Text lookups see the number's ``str``.
    """

    __slots__ = ("value", "key")

    def __init__(self, value: Any) -> None:
        self.value = value
        nan = value.is_nan() if isinstance(value, decimal.Decimal) else value != value
        self.key: tuple[int, Any] = (1, 0) if nan else (0, value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ordered) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: Ordered) -> bool:
        return self.key < other.key

    def __le__(self, other: Ordered) -> bool:
        return self.key <= other.key

    def __gt__(self, other: Ordered) -> bool:
        return self.key > other.key

    def __ge__(self, other: Ordered) -> bool:
        return self.key >= other.key

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return f"Ordered({self.value!r})"
