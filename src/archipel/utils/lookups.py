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
- text lookups (``contains``, ``startswith``, ...) take text, and apply to
  fields whose text every store shares (text, identities, integers, dates;
  see :func:`has_shared_text`);
- ``contains`` on a ``List`` is membership: the value is converted as an item;
  other text lookups on ``List``/``Dict`` fields, and comparisons of them
  with a value that is no list or dict, are validation errors;
- ``exact``/``in`` on lists, dicts and embedded elements compare JSON values
  (:func:`json_canonical`: ``1`` is ``1.0``, ``True`` is not ``1``, key order
  does not matter); they have no order (``gt``... are validation errors);
- NaN (fields with ``allow_non_finite=True``) equals NaN and sorts above
  every number, as in PostgreSQL; :class:`Ordered` gives memory that order.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from typing import Any

from archipel.errors import ValidationError
from archipel.fields.association import Association, Reference
from archipel.fields.base import Field, FieldError, shown
from archipel.fields.containers import Dict, List
from archipel.fields.limits import check_json, check_text
from archipel.fields.simple import Boolean as BooleanField
from archipel.fields.simple import DateTime as DateTimeField
from archipel.fields.simple import Decimal as DecimalField
from archipel.fields.simple import Float as FloatField
from archipel.fields.simple import Integer as IntegerField

__all__ = [
    "TEXT_LOOKUPS",
    "lookup_normalizer",
    "Ordered",
    "is_numeric",
    "is_structured",
    "has_shared_text",
    "json_canonical",
    "JsonEqual",
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


def has_shared_text(field: Field) -> bool:
    """Whether every store gives ``field`` the same text (for text lookups on it).

    Text, identities, integers and dates do; floats (``1e+16`` / ``1.0e+16``),
    decimals (``1E-7`` / ``0.0000001``), booleans (``true`` / ``1``), date-times
    (``T`` / space) and structured fields do not.
    """
    if isinstance(field, (DecimalField, FloatField, BooleanField, DateTimeField)):
        return False
    return not is_structured(field)


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
            if lookup in ("gt", "gte", "lt", "lte") and is_structured(field):
                raise FieldError(
                    f"the {lookup} lookup needs an order, and a {type(field).__name__} field "
                    "has none that every store shares"
                )
            if lookup in TEXT_LOOKUPS and not has_shared_text(field):
                raise FieldError(
                    f"the {lookup} lookup compares text, and a {type(field).__name__} field has "
                    "no text form every store shares; use exact, in, gt, gte, lt or lte"
                    + ("; contains on a List tests membership" if isinstance(field, List) else "")
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


def json_canonical(value: Any) -> Any:
    """A form of JSON data equal exactly when the values are equal as JSON (as
    PostgreSQL's jsonb compares them): numbers by value (``1`` is ``1.0``, ``-0`` is
    ``0``), booleans apart from numbers, dict keys in any order."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, (int, float, decimal.Decimal)):
        number = decimal.Decimal(repr(value) if isinstance(value, float) else value)
        return ["n", "0" if number.is_zero() else str(number.normalize(_EXACT))]
    if isinstance(value, (list, tuple)):
        return ["l", [json_canonical(item) for item in value]]
    if isinstance(value, dict):
        return ["d", sorted([key, json_canonical(item)] for key, item in value.items())]
    return ["?", str(value)]


_EXACT = decimal.Context(prec=decimal.MAX_PREC)


class JsonEqual:
    """A criterion value equal to the JSON values equal to it (see :func:`json_canonical`)."""

    __slots__ = ("value", "key")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.key = json_canonical(value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JsonEqual):
            return bool(self.key == other.key)
        return other is not None and bool(self.key == json_canonical(other))

    def __hash__(self) -> int:
        return hash(repr(self.key))

    def __repr__(self) -> str:
        return f"JsonEqual({self.value!r})"
