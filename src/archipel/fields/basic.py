"""Protean's ``protean.fields.basic``: ``ValueObjectList`` and the deprecated serializer
fields ``Method`` and ``Nested`` (the other names are re-exported for old imports).

- :class:`ValueObjectList` is a :class:`~archipel.fields.List` whose items are a
  Python type (``str``, ``int``, ``float``, ``bool``, ``date``, ``datetime``,
  ``dict``) or a :class:`~archipel.fields.ValueObject`, as Protean 0.18 takes it.
- :class:`Method` and :class:`Nested` served Protean's serializers, which Protean
  0.18 no longer has: they build (with a ``DeprecationWarning``, as Protean's) so
  old imports keep working, but no element takes them — declaring one on an
  aggregate, entity, value object or message is a ``ConfigurationError`` (Protean
  0.18 refuses them there too).
"""

from __future__ import annotations

import datetime as _dt
import warnings
from typing import Any

from archipel.errors import ValidationError
from archipel.fields.base import Field
from archipel.fields.containers import Dict, List
from archipel.fields.embedded import ValueObject
from archipel.fields.simple import (
    Auto,
    Boolean,
    Date,
    DateTime,
    Float,
    Identifier,
    Integer,
    String,
    Text,
)

__all__ = [
    "Auto",
    "Boolean",
    "Date",
    "DateTime",
    "Dict",
    "Float",
    "Identifier",
    "Integer",
    "List",
    "Method",
    "Nested",
    "SerializerField",
    "String",
    "Text",
    "ValueObjectList",
]

#: the Python types ValueObjectList items may be, and the field cleaning each
_CONTENT_FIELDS: dict[type, type[Field]] = {
    bool: Boolean,
    _dt.date: Date,
    _dt.datetime: DateTime,
    float: Float,
    int: Integer,
    str: String,
    dict: Dict,
}


class ValueObjectList(List):
    """A list of ``content_type`` items: a Python type of :data:`_CONTENT_FIELDS` or a
    ``ValueObject(...)`` field. Any other content type is a ``ValidationError``
    (``{"content_type": ["Content type not supported"]}``, Protean's)."""

    def __init__(self, content_type: Any = str, pickled: bool = False, **kwargs: Any) -> None:
        if isinstance(content_type, ValueObject):
            content: Field = content_type
        elif isinstance(content_type, type) and content_type in _CONTENT_FIELDS:
            content = _CONTENT_FIELDS[content_type]()
        else:
            raise ValidationError({"content_type": ["Content type not supported"]})
        super().__init__(content_type=content, pickled=pickled, **kwargs)
        #: the content type as declared (Protean's attribute)
        self.content_type = content_type


class SerializerField:
    """Base of Protean's deprecated serializer fields (:class:`Method`, :class:`Nested`).

    Not a :class:`~archipel.fields.Field`: elements refuse it (``ConfigurationError``).
    """

    _what = "serializer field"

    def __init__(self, **kwargs: Any) -> None:
        warnings.warn(
            f"`{type(self).__name__}` field is deprecated (since Protean 0.12, removed in 0.19): "
            "serializer fields are no longer supported",
            DeprecationWarning,
            stacklevel=3,
        )
        #: the field options given (``required=``, ``default=``, ...), kept as given
        self.options = dict(kwargs)


class Method(SerializerField):
    """Protean's deprecated serializer field naming a method (``Method("get_total")``)."""

    def __init__(self, method_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.method_name = method_name

    def __repr__(self) -> str:
        return f"Method({self.method_name!r})"


class Nested(SerializerField):
    """Protean's deprecated serializer field naming a schema (``Nested("Schema", many=True)``)."""

    def __init__(self, schema_name: str, many: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema_name = schema_name
        self.many = many

    def __repr__(self) -> str:
        return f"Nested({self.schema_name!r}{', many=True' if self.many else ''})"
