"""Scalar field types: text, numbers, booleans, dates and identities.

One module per concept (:mod:`~archipel.fields.text`, :mod:`~archipel.fields.numbers`,
:mod:`~archipel.fields.boolean`, :mod:`~archipel.fields.temporal`,
:mod:`~archipel.fields.identity`); this module keeps the import path of all of them.
"""

from __future__ import annotations

from archipel.fields.boolean import Boolean
from archipel.fields.custom import Custom
from archipel.fields.identity import Auto, Identifier, _uuid_int, check_identity, new_identity
from archipel.fields.numbers import (
    Decimal,
    Float,
    Integer,
    _BigInteger,
    _NonFiniteFloat,
    _whole_number,
)
from archipel.fields.status import Status
from archipel.fields.temporal import Date, DateTime
from archipel.fields.text import String, Text

__all__ = [
    "check_identity",
    "new_identity",
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
    "Custom",
    "Status",
]

# kept importable from here, as before the split
_PRIVATE = (_BigInteger, _NonFiniteFloat, _whole_number, _uuid_int)
