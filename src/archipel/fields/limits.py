"""What every supported store holds faithfully, and the checks fields share.

A field accepts a value only when the memory, SQLite and PostgreSQL stores
all keep it exactly; everything else is a :class:`FieldError` (a
``ValidationError`` naming the field) when the object is built:

- integers are 64-bit (``INT64_MIN..INT64_MAX``) unless the field opts into
  arbitrary precision (``Integer(big=True)``);
- text holds no NUL character and no lone surrogate (neither is valid UTF-8,
  and PostgreSQL refuses NUL in text);
- identities are at most :data:`IDENTITY_LENGTH` characters;
- decimals have at most :data:`DECIMAL_PLACES` digits after the point and a
  magnitude below ``10**DECIMAL_MAGNITUDE``, checked on the exponent before
  any conversion that could take time in proportion to it;
- untyped ``List``/``Dict`` content is JSON: text, 64-bit integers, finite
  floats, booleans, ``None``, lists and dicts with text keys.
"""

from __future__ import annotations

import decimal
import math
from typing import Any

from archipel.fields.base import FieldError, shown

__all__ = [
    "INT64_MIN",
    "INT64_MAX",
    "IDENTITY_LENGTH",
    "DECIMAL_PLACES",
    "DECIMAL_MAGNITUDE",
    "check_text",
    "check_int64",
    "check_decimal",
    "check_json",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: identity columns are VARCHAR(255)
IDENTITY_LENGTH = 255
#: at most this many digits after the decimal point (PostgreSQL NUMERIC keeps 16383)
DECIMAL_PLACES = 1000
#: magnitudes below ``10**DECIMAL_MAGNITUDE`` (PostgreSQL NUMERIC keeps 131072 digits)
DECIMAL_MAGNITUDE = 1000
_JSON_DEPTH = 64


def check_text(value: str) -> str:
    """``value`` unchanged, or FieldError when it holds NUL or a lone surrogate."""
    if value.isascii():
        if "\x00" in value:
            raise FieldError("must not contain the NUL character (\\x00)")
        return value
    if "\x00" in value:
        raise FieldError("must not contain the NUL character (\\x00)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldError("must not contain a lone surrogate (not valid Unicode text)") from None
    return value


def check_int64(value: int) -> int:
    """``value`` unchanged, or FieldError when it is outside 64 bits."""
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise FieldError(
        "must be a 64-bit integer (between -2**63 and 2**63-1); "
        "declare Integer(big=True) for arbitrary precision"
    )


def check_decimal(value: decimal.Decimal, allow_non_finite: bool) -> decimal.Decimal:
    """``value`` in the form every store keeps, or FieldError.

    Exponents are checked first (cheap), so ``1E+1000000`` is refused without
    expanding it. Positive exponents and negative zero are normalised
    (``1E+2`` -> ``100``, ``-0.0`` -> ``0.0``): PostgreSQL NUMERIC cannot hold them.
    """
    if not value.is_finite():
        if value.is_snan():
            raise FieldError("must not be a signalling NaN")
        if not allow_non_finite:
            raise FieldError(
                f"must be finite, got {value}; declare allow_non_finite=True to accept it"
            )
        return decimal.Decimal("NaN") if value.is_nan() else value
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -DECIMAL_PLACES:
        raise FieldError(f"must have at most {DECIMAL_PLACES} digits after the decimal point")
    if not value.is_zero() and value.adjusted() >= DECIMAL_MAGNITUDE:
        raise FieldError(f"must be smaller than 10**{DECIMAL_MAGNITUDE} in magnitude")
    if exponent > 0:
        value = value.quantize(decimal.Decimal(1), context=_WIDE)
    if value.is_zero() and value.is_signed():
        value = value.copy_abs()
    return value


_WIDE = decimal.Context(prec=DECIMAL_MAGNITUDE + DECIMAL_PLACES + 2)


def check_json(value: Any, depth: int = 0) -> Any:
    """``value`` unchanged when it is JSON every store keeps exactly, else FieldError.

    Text keys only; no tuples, sets, decimals, dates or other objects (declare a
    ``content_type`` to keep those typed).
    """
    if depth > _JSON_DEPTH:
        raise FieldError(f"nests deeper than {_JSON_DEPTH} levels")
    if value is None or value is True or value is False:
        return value
    kind = type(value)
    if kind is str:
        return check_text(value)
    if kind is int:
        return check_int64(value)
    if kind is float:
        if math.isfinite(value):
            return value
        raise FieldError(f"must hold finite numbers only, got {shown(value)}")
    if kind is list:
        for item in value:
            check_json(item, depth + 1)
        return value
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise FieldError(f"keys must be text, got {shown(key)} ({type(key).__name__})")
            check_text(key)
            check_json(item, depth + 1)
        return value
    raise FieldError(
        f"holds {type(value).__name__} {shown(value)}, which is not JSON (text, 64-bit integer, "
        "finite float, boolean, None, list, dict); declare content_type to keep typed items"
    )
