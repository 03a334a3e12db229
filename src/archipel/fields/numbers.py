"""Number fields: ``Integer`` (64-bit, or any size with ``big=True``), ``Float`` and ``Decimal``."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any

from archipel.fields.base import Field, FieldError, accepting, shown
from archipel.fields.limits import INT64_MAX, INT64_MIN, check_decimal, check_int64

__all__ = ["Integer", "Float", "Decimal"]


class _Number(Field):
    def __init__(
        self,
        min_value: Any = None,
        max_value: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if min_value is not None and max_value is not None and min_value > max_value:
            raise TypeError(f"min_value {min_value!r} is above max_value {max_value!r}: no value fits")
        self.min_value = min_value
        self.max_value = max_value

    def check(self, value: Any) -> None:
        if value != value:  # NaN: it is neither below nor above a bound
            if self.min_value is not None or self.max_value is not None:
                raise FieldError("must be a number within the bounds, got NaN")
            return
        if self.min_value is not None and value < self.min_value:
            raise FieldError(f"must be greater than or equal to {self.min_value}", "min_value")
        if self.max_value is not None and value > self.max_value:
            raise FieldError(f"must be less than or equal to {self.max_value}", "max_value")


def _whole_number(value: Any, big: bool) -> int:
    """``value`` as an int when it is a whole number (never truncated), else FieldError."""
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise FieldError("expected a whole number, got a boolean")
    if isinstance(value, float):
        if value.is_integer():  # False for NaN and infinities
            return int(value)
        raise FieldError(f"expected a whole number, got {shown(value)}")
    if isinstance(value, decimal.Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise FieldError(f"expected a whole number, got {value}")
        if value.is_zero():
            return 0
        # check the size on the exponent before int() expands it
        if value.adjusted() >= (1000 if big else 19):
            raise FieldError(f"expected a {'' if big else '64-bit '}whole number, got {value:.3E}")
        return int(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:  # also beyond Python's 4300-digit limit
            raise FieldError(f"expected a whole number, got {value[:40]!r}") from None
    raise FieldError(f"expected a whole number, got {type(value).__name__}")


class Integer(_Number):
    """A whole number, with optional ``min_value``/``max_value``.

    Integers are 64-bit (``-2**63`` to ``2**63 - 1``), what every store holds in
    an integer column. ``Integer(big=True)`` accepts any size (up to 1000 digits);
    it is stored as NUMERIC (PostgreSQL) or text (SQLite) and as text in JSON.
    Non-integral numbers (``1.5``, ``Decimal("1.5")``) are refused, never truncated.
    """

    type_name = "int"

    def __new__(cls, *args: Any, big: bool = False, **kwargs: Any) -> Integer:
        # big integers convert to and from text: a subclass, so 64-bit ones pay no call
        return super().__new__(_BigInteger if big and cls is Integer else cls)

    def __init__(self, *args: Any, big: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.big = big

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators or self.big:
            return full
        low = INT64_MIN if self.min_value is None else max(INT64_MIN, self.min_value)
        high = INT64_MAX if self.max_value is None else min(INT64_MAX, self.max_value)
        if type(low) is int and type(high) is int:
            return accepting(f"type(v) is int and {low} <= v <= {high}", full)
        return lambda v: v if type(v) is int and low <= v <= high else full(v)

    def cast(self, value: Any) -> Any:
        number = _whole_number(value, self.big)
        if self.big:
            if not -_BIG_LIMIT < number < _BIG_LIMIT:
                raise FieldError("must have at most 1000 digits")
            return number
        return check_int64(number)


_BIG_LIMIT = 10**1000


class _BigInteger(Integer):
    """``Integer(big=True)``: any size, kept as text in the primitive form."""

    def as_primitive(self, value: Any) -> Any:
        return None if value is None else str(value)

    def from_primitive(self, value: Any) -> Any:
        return None if value is None else int(value)


class Float(_Number):
    """A floating point number, with optional ``min_value``/``max_value``.

    Stored bit-exactly (the sign of zero too). NaN and infinities are refused
    unless the field declares ``allow_non_finite=True``; NaN then equals NaN and
    sorts above every number on every store (PostgreSQL's order).
    """

    type_name = "float"

    def __new__(cls, *args: Any, allow_non_finite: bool = False, **kwargs: Any) -> Float:
        # NaN and infinities are text in the primitive form (JSON has no such numbers)
        return super().__new__(_NonFiniteFloat if allow_non_finite and cls is Float else cls)

    def __init__(self, *args: Any, allow_non_finite: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow_non_finite = allow_non_finite

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators:
            return full
        low, high = self.min_value, self.max_value
        # ``v - v == 0.0`` is False for NaN and the infinities
        if low is None and high is None:
            return accepting("type(v) is float and v - v == 0.0", full)
        if high is None:
            if type(low) in (int, float) and low - low == 0:  # a finite literal
                return accepting(f"type(v) is float and v - v == 0.0 and v >= {low!r}", full)
            return lambda v: v if type(v) is float and v - v == 0.0 and v >= low else full(v)
        return full

    def cast(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise FieldError("expected a number, got a boolean")
        if type(value) is not float:
            if isinstance(value, (str, bytes)) and len(value) > 400:
                raise FieldError("expected a number, got text too long for one")
            try:
                value = float(value)
            except (TypeError, ValueError, OverflowError):
                raise FieldError(f"expected a number, got {shown(value)}") from None
        if value - value != 0.0 and not self.allow_non_finite:
            raise FieldError(
                f"must be finite, got {shown(value)}; declare allow_non_finite=True to accept it"
            )
        return value


class _NonFiniteFloat(Float):
    """``Float(allow_non_finite=True)``: NaN and infinities are the text "NaN",
    "Infinity", "-Infinity" in the primitive form, so JSON (events, embedded value
    objects) keeps them instead of writing null."""

    def as_primitive(self, value: Any) -> Any:
        if value is None or value - value == 0.0:
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")

    def from_primitive(self, value: Any) -> Any:
        return float(value) if isinstance(value, str) else value


class Decimal(_Number):
    """An exact decimal number; ``max_digits``/``decimal_places`` are checked.

    Every store keeps the digits and the exponent: ``Decimal("1.10")`` reads back
    as ``1.10``. Positive exponents and negative zero are normalised when the
    object is built (``1E+2`` -> ``100``, ``-0.00`` -> ``0.00``). At most 1000
    digits after the point and magnitudes below ``10**1000``. NaN and infinities
    are refused unless ``allow_non_finite=True`` (signalling NaN always is).
    """

    type_name = "decimal"

    def __init__(
        self,
        max_digits: int | None = None,
        decimal_places: int | None = None,
        allow_non_finite: bool = False,
        *,
        precision: int | None = None,
        scale: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # ``precision``/``scale`` are Protean's names (SQL's NUMERIC(precision, scale))
        self.max_digits = max_digits if max_digits is not None else precision
        self.decimal_places = decimal_places if decimal_places is not None else scale
        self.allow_non_finite = allow_non_finite

    def cast(self, value: Any) -> Any:
        if not isinstance(value, decimal.Decimal):
            if isinstance(value, bool):
                raise FieldError("expected a decimal number, got a boolean")
            if isinstance(value, str) and len(value) > 2100:
                raise FieldError("expected a decimal number, got text too long for one")
            try:
                value = decimal.Decimal(value if isinstance(value, str) else str(value))
            except (decimal.InvalidOperation, ValueError, TypeError):
                raise FieldError(f"expected a decimal number, got {shown(value)}") from None
        return check_decimal(value, self.allow_non_finite)

    def check(self, value: Any) -> None:
        super().check(value)
        sign, digits, exponent = value.as_tuple()
        if self.decimal_places is not None and isinstance(exponent, int):
            if -exponent > self.decimal_places:
                raise FieldError(f"must have at most {self.decimal_places} decimal places")
        if self.max_digits is not None and len(digits) > self.max_digits:
            raise FieldError(f"must have at most {self.max_digits} digits")
        if self.max_digits is not None and self.decimal_places is not None and isinstance(exponent, int):
            # like NUMERIC(max_digits, decimal_places): the places are reserved
            whole = self.max_digits - self.decimal_places
            if len(digits) + exponent > whole:
                raise FieldError(f"must have at most {whole} digits before the decimal point")

    def as_primitive(self, value: Any) -> Any:
        return None if value is None else str(value)

    def from_primitive(self, value: Any) -> Any:
        return None if value is None else decimal.Decimal(str(value))
