"""One aggregate holding a field of every type, and exact comparison of values."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import struct
from typing import Any

from archipel import BaseAggregate, BaseValueObject, Domain
from archipel.fields import (
    Boolean,
    Date,
    DateTime,
    Decimal,
    Dict,
    Float,
    Identifier,
    Integer,
    List,
    String,
    Text,
    ValueObject,
)

#: the value fields of Holder (``key`` is its identity)
FIELDS = (
    "name",
    "text",
    "count",
    "big",
    "ratio",
    "wild",
    "amount",
    "price",
    "odd",
    "flag",
    "day",
    "at",
    "ref",
    "amounts",
    "days",
    "moments",
    "items",
    "data",
    "spot",
)


def define_holder(domain: Domain) -> type:
    """Register ``Holder`` on ``domain`` and return it."""

    class Spot(BaseValueObject):
        """Typed values inside JSON (an embedded value object)."""

        level = Float(allow_non_finite=True)
        amount = Decimal()
        at = DateTime()
        big = Integer(big=True)

    domain.value_object(Spot)

    class Holder(BaseAggregate):
        key = Identifier(identifier=True)
        name = String(max_length=50)
        text = Text()
        count = Integer()
        big = Integer(big=True)
        ratio = Float()
        wild = Float(allow_non_finite=True)
        amount = Decimal()
        price = Decimal(max_digits=12, decimal_places=2)
        odd = Decimal(allow_non_finite=True)
        flag = Boolean()
        day = Date()
        at = DateTime()
        ref = Identifier()
        amounts = List(content_type=Decimal)
        days = List(content_type=Date)
        moments = List(content_type=DateTime)
        items = List()
        data = Dict()
        spot = ValueObject(Spot)

    return domain.aggregate(Holder)


def same(left: Any, right: Any) -> bool:
    """Exact equality: same types, floats bit for bit, decimals digit for digit,
    date-times with the same offset, containers item by item."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        if math.isnan(left):
            return math.isnan(right)
        return struct.pack("<d", left) == struct.pack("<d", right)
    if isinstance(left, decimal.Decimal):
        if left.is_nan():
            return right.is_nan()
        return left.as_tuple() == right.as_tuple()
    if isinstance(left, dt.datetime):
        return left == right and left.utcoffset() == right.utcoffset()
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    fields = getattr(type(left), "_fields", None)
    if fields is not None:  # an element: field by field
        return all(same(getattr(left, name), getattr(right, name)) for name in fields)
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


def differences(built: Any, read: Any) -> dict[str, tuple[Any, Any]]:
    """Fields whose value read back is not exactly the value built."""
    return {
        name: (getattr(built, name), getattr(read, name))
        for name in FIELDS
        if not same(getattr(built, name), getattr(read, name))
    }
