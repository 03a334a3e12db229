"""Scalar field types: text, numbers, booleans, dates and identities."""

from __future__ import annotations

import datetime as _dt
import decimal
import os
import threading
import uuid
from collections.abc import Callable
from os import urandom as _urandom
from typing import Any

from archipel.fields.base import Field, FieldError, shown
from archipel.fields.limits import (
    IDENTITY_LENGTH,
    INT64_MAX,
    INT64_MIN,
    check_decimal,
    check_int64,
    check_text,
)

__all__ = [
    "String",
    "Text",
    "Integer",
    "Float",
    "Decimal",
    "Boolean",
    "Date",
    "DateTime",
    "Identifier",
    "Auto",
]


class String(Field):
    """A string of at most ``max_length`` (default 255) characters.

    Text with a NUL character or a lone surrogate is refused: no store keeps it.
    """

    type_name = "str"

    def __init__(
        self,
        max_length: int | None = 255,
        min_length: int | None = None,
        sanitize: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.min_length = min_length
        self.sanitize = sanitize

    def cast(self, value: Any) -> Any:
        if type(value) is str:
            return check_text(value)
        if isinstance(value, (dict, list, tuple, set, bytes, bytearray)):
            raise FieldError(f"expected text, got {type(value).__name__}")
        try:
            return check_text(str(getattr(value, "value", value)))
        except ValueError:  # e.g. an int beyond Python's 4300-digit conversion limit
            raise FieldError(f"expected text, got a {type(value).__name__} with no text form") from None

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators or self.min_length or self.sanitize:
            return full
        limit = self.max_length
        # plain ASCII text without NUL is accepted without a call; the rest is checked in full
        if limit is None:
            return lambda v: v if type(v) is str and v.isascii() and "\x00" not in v else full(v)
        return lambda v: (
            v if type(v) is str and len(v) <= limit and v.isascii() and "\x00" not in v else full(v)
        )

    def check(self, value: Any) -> None:
        if self.max_length is not None and len(value) > self.max_length:
            raise FieldError(f"must be at most {self.max_length} characters long")
        if self.min_length is not None and len(value) < self.min_length:
            raise FieldError(f"must be at least {self.min_length} characters long")


class Text(String):
    """A string of any length."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", None)
        super().__init__(**kwargs)


class _Number(Field):
    def __init__(
        self,
        min_value: Any = None,
        max_value: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_value = min_value
        self.max_value = max_value

    def check(self, value: Any) -> None:
        if value != value:  # NaN: it is neither below nor above a bound
            if self.min_value is not None or self.max_value is not None:
                raise FieldError("must be a number within the bounds, got NaN")
            return
        if self.min_value is not None and value < self.min_value:
            raise FieldError(f"must be greater than or equal to {self.min_value}")
        if self.max_value is not None and value > self.max_value:
            raise FieldError(f"must be less than or equal to {self.max_value}")


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
            return lambda v: v if type(v) is float and v - v == 0.0 else full(v)
        if high is None:
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


class Boolean(Field):
    """True or False; accepts the strings "true"/"false" and 0/1."""

    type_name = "bool"

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators:
            return full
        return lambda v: v if v is True or v is False else full(v)
    _TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
    _FALSE = frozenset({"false", "f", "no", "n", "0", "off"})

    def cast(self, value: Any) -> Any:
        if value is True or value is False:
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in self._TRUE:
                return True
            if lowered in self._FALSE:
                return False
        raise FieldError(f"expected true or false, got {shown(value)}")


class _Stamped(Field):
    """Date fields may be stamped when their object is saved (Django's ``auto_now*``)."""

    def __init__(self, *, auto_now: bool = False, auto_now_add: bool = False, **kwargs: Any) -> None:
        if auto_now and auto_now_add:
            raise TypeError("give auto_now (every save) or auto_now_add (first save), not both")
        super().__init__(**kwargs)
        #: set to now on every save
        self.auto_now = auto_now
        #: set to now on the first save (when still empty)
        self.auto_now_add = auto_now_add

    def now(self) -> Any:
        """The value to stamp (timezone-aware UTC)."""
        return _dt.datetime.now(_dt.UTC)


class Date(_Stamped):
    """A calendar date; accepts ISO strings."""

    type_name = "date"

    def now(self) -> Any:
        return _dt.datetime.now(_dt.UTC).date()

    def cast(self, value: Any) -> Any:
        if isinstance(value, _dt.datetime):
            return value.date()
        if isinstance(value, _dt.date):
            return value
        if isinstance(value, str):
            try:
                return _dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise FieldError(f"expected a date (YYYY-MM-DD), got {shown(value)}")

    def as_primitive(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def from_primitive(self, value: Any) -> Any:
        if value is None or isinstance(value, _dt.date):
            return value
        return _dt.date.fromisoformat(value)


class DateTime(_Stamped):
    """A point in time in UTC; accepts ISO strings.

    Values are normalised to UTC when the object is built, so every store keeps
    the same instant and text order is time order: an aware value is converted
    (``10:00+02:00`` -> ``08:00+00:00``), a naive one (or a date) is taken as UTC.
    """

    type_name = "datetime"

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators:
            return full
        utc = _dt.UTC
        return lambda v: v if type(v) is _dt.datetime and v.tzinfo is utc else full(v)

    def cast(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = _dt.datetime.fromisoformat(value)
            except ValueError:
                raise FieldError(f"expected a date-time (ISO 8601), got {value[:60]!r}") from None
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                return value.replace(tzinfo=_dt.UTC)
            if value.tzinfo is _dt.UTC:
                return value
            try:
                return value.astimezone(_dt.UTC)
            except OverflowError:
                raise FieldError(f"is outside the years 1 to 9999 in UTC: {value}") from None
        if isinstance(value, _dt.date):
            return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC)
        raise FieldError(f"expected a date-time (ISO 8601), got {shown(value)}")

    def as_primitive(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def from_primitive(self, value: Any) -> Any:
        if value is None or isinstance(value, _dt.datetime):
            return value
        return _dt.datetime.fromisoformat(value)


class Identifier(Field):
    """An identity value: strings, integers and UUIDs are stored as strings.

    Text identities hold at most 255 characters (what identity columns store);
    ``identity_type="integer"`` ones are 64-bit integers.
    """

    type_name = "identifier"

    def __init__(self, identity_type: str = "string", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.identity_type = identity_type

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators or self.identity_type != "string":
            return full
        limit = IDENTITY_LENGTH
        return lambda v: (
            v if type(v) is str and len(v) <= limit and v.isascii() and "\x00" not in v else full(v)
        )

    def cast(self, value: Any) -> Any:
        if self.identity_type == "integer":
            try:
                return check_int64(_whole_number(value, big=False))
            except FieldError:
                raise FieldError(f"expected a 64-bit integer identity, got {shown(value)}") from None
        if isinstance(value, (str, int, uuid.UUID)) and not isinstance(value, bool):
            if isinstance(value, int) and not -(10**255) < value < 10**255:
                raise FieldError(f"must be at most {IDENTITY_LENGTH} characters long (an identity)")
            return check_identity(value if type(value) is str else str(value))
        raise FieldError(f"expected an identifier (text, number or UUID), got {shown(value)}")


def check_identity(text: str) -> str:
    """``text`` when it can be an identity (valid text of at most 255 characters)."""
    if len(text) > IDENTITY_LENGTH:
        raise FieldError(f"must be at most {IDENTITY_LENGTH} characters long (an identity)")
    return check_text(text)


def new_identity() -> str:
    """A new random identity: a version-4 UUID as text, from ``os.urandom``.

    Random bytes are drawn 4 KiB at a time per thread (one system call per
    256 identities) and formatted directly: about 3x faster than
    ``str(uuid.uuid4())`` with the same randomness and layout. A forked
    child process starts with a fresh draw, so it never repeats its parent's
    identities.
    """
    pool = _pool
    at = pool.at
    if at == 0:
        pool.hex = _urandom(16 * _IDS_PER_DRAW).hex()
        at = 32 * _IDS_PER_DRAW
    at -= 32
    pool.at = at
    h = pool.hex[at : at + 32]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


#: the RFC 4122 variant digit for a random hex digit (its two low bits)
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_IDS_PER_DRAW = 256


class _RandomPool(threading.local):
    """Random hex digits not used yet, per thread; ``at`` is how many are left."""

    def __init__(self) -> None:
        self.hex = ""
        self.at = 0


_pool = _RandomPool()


def _fresh_pool_after_fork() -> None:
    global _pool
    _pool = _RandomPool()


os.register_at_fork(after_in_child=_fresh_pool_after_fork)


def _uuid_int() -> int:
    """A random positive 63-bit integer: fits the BIGINT/INTEGER identity columns of SQL stores."""
    return uuid.uuid4().int >> 65 or 1


class Auto(Identifier):
    """An identity generated when none is given (UUID4 text by default).

    ``identity_strategy``: ``"uuid"`` (default) or ``"function"`` (call
    ``identity_function``); ``identity_type``: ``"string"`` (default),
    ``"uuid"`` (UUID text) or ``"integer"`` (a random 63-bit number). Left
    unset, both follow the domain's ``identity_strategy``/``identity_type``
    configuration (applied by ``Domain.init()``).
    """

    _STRATEGIES = ("uuid", "function")
    _TYPES = ("string", "uuid", "integer")

    def __init__(
        self,
        *,
        increment: bool = False,
        identity_strategy: str | None = None,
        identity_function: Callable[[], Any] | None = None,
        identity_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        if increment:
            raise TypeError(
                "Auto(increment=True) is not supported: archipel gives an object its identity "
                "when it is created, not when the database stores it; use "
                "identity_strategy=\"function\" with identity_function=... for sequences"
            )
        self._given_default = "default" in kwargs
        super().__init__(identity_type=identity_type or "string", **kwargs)
        self.identity_strategy = identity_strategy
        self.identity_function = identity_function
        #: strategy/type given here (the domain's configuration does not override them)
        self.explicit = (identity_strategy is not None, identity_type is not None)
        self.use_identity(identity_strategy or "uuid", identity_type or "string")

    def use_identity(self, strategy: str, identity_type: str) -> None:
        """Generate identities with ``strategy`` and ``identity_type`` (checked)."""
        if strategy not in self._STRATEGIES:
            raise TypeError(f"identity_strategy={strategy!r}: use one of {', '.join(self._STRATEGIES)}")
        if identity_type not in self._TYPES:
            raise TypeError(f"identity_type={identity_type!r}: use one of {', '.join(self._TYPES)}")
        if strategy == "function":
            if not callable(self.identity_function):
                raise TypeError("identity_strategy=\"function\" needs identity_function=<callable>")
            generate: Callable[[], Any] = self.identity_function
        else:
            generate = _uuid_int if identity_type == "integer" else new_identity
        self.identity_type = "integer" if identity_type == "integer" else "string"
        if not self._given_default:
            self.set_default(generate)
