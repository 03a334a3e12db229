"""Field types for domain elements (``from archipel.fields import String, ...``)."""

from archipel.fields.association import Association, HasMany, HasOne, Reference
from archipel.fields.base import MISSING, Field, FieldError
from archipel.fields.basic import Method, Nested, ValueObjectList
from archipel.fields.containers import Dict, List
from archipel.fields.custom import Custom
from archipel.fields.embedded import ValueObject, ValueObjectFromEntity
from archipel.fields.simple import (
    Auto,
    Boolean,
    Date,
    DateTime,
    Decimal,
    Float,
    Identifier,
    Integer,
    String,
    Text,
)
from archipel.fields.status import Status

__all__ = [
    "MISSING",
    "Association",
    "Auto",
    "Boolean",
    "Custom",
    "Date",
    "DateTime",
    "Decimal",
    "Dict",
    "Field",
    "FieldError",
    "Float",
    "HasMany",
    "HasOne",
    "Identifier",
    "Integer",
    "List",
    "Method",
    "Nested",
    "Reference",
    "Status",
    "String",
    "Text",
    "ValueObject",
    "ValueObjectFromEntity",
    "ValueObjectList",
]
