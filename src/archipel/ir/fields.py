"""The IR form of one field: Protean's sparse, discriminated field dict (``kind`` + ``type``).

Every field archipel declares maps to one of the ``field_*`` shapes of the
IR schema (``standard``, ``text``, ``identifier``, ``auto``, ``list``,
``dict``, ``value_object``, ``value_object_list``, ``has_one``,
``has_many``, ``reference``, ``status``, ``custom``). Attributes appear
only when they differ from the field's neutral value (``required`` only
when true, ``max_length`` only when set), keys sorted, as Protean writes
them. A field class this module does not know is an :class:`IRError`
naming it: an IR that silently drops a field would diff as "no change".
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
from typing import Any

from archipel.domain.element_schemas import fqn
from archipel.errors import ArchipelError
from archipel.fields import (
    Auto,
    Boolean,
    Custom,
    Date,
    DateTime,
    Decimal,
    Dict,
    Float,
    HasMany,
    HasOne,
    Identifier,
    Integer,
    List,
    Reference,
    Status,
    String,
    Text,
    ValueObject,
    ValueObjectList,
)

__all__ = ["IRError", "field_ir", "fields_ir"]

#: a Python type (a ``List``'s content, a ``Custom`` field's type) -> IR type name
_PY_TYPES: dict[type, str] = {
    str: "String",
    int: "Integer",
    float: "Float",
    decimal.Decimal: "Decimal",
    bool: "Boolean",
    dict: "dict",
    _dt.date: "Date",
    _dt.datetime: "DateTime",
}
#: standard field classes -> IR type name (subclasses first: DateTime before Date)
_STANDARD: tuple[tuple[type, str], ...] = (
    (Boolean, "Boolean"),
    (Decimal, "Decimal"),
    (Float, "Float"),
    (Integer, "Integer"),
    (DateTime, "DateTime"),
    (Date, "Date"),
    (String, "String"),
)
#: a content field of a ``List`` -> IR content type name
_CONTENT: tuple[tuple[type, str], ...] = (
    (Identifier, "Identifier"),
    (Text, "String"),
    *_STANDARD,
    (Dict, "dict"),
)


class IRError(ArchipelError):
    """The domain holds something the IR cannot represent (named in the message)."""


def _target(field_obj: Any) -> str:
    to = field_obj.to_cls
    if isinstance(to, str):
        raise IRError(f"field {field_obj.name!r} targets {to!r}, which is not resolved: call domain.init() first")
    return fqn(to)


def _shape(field_obj: Any) -> dict[str, Any]:
    """``kind``, ``type``/``target`` and the kind-specific keys of ``field_obj``."""
    if isinstance(field_obj, ValueObjectList):
        content = field_obj.content_type
        to = content.to_cls if isinstance(content, ValueObject) else content
        return {"kind": "value_object_list", "target": fqn(to) if isinstance(to, type) else str(to)}
    if isinstance(field_obj, ValueObject):
        return {"kind": "value_object", "target": _target(field_obj)}
    if isinstance(field_obj, (HasOne, HasMany)):
        entry = {"kind": "has_one" if isinstance(field_obj, HasOne) else "has_many", "target": _target(field_obj)}
        if field_obj.via is not None and not getattr(field_obj, "via_derived", False):
            entry["via"] = field_obj.via
        return entry
    if isinstance(field_obj, Reference):
        to = field_obj.to_cls
        linked = getattr(to, "_id_field", None) or "id"
        return {"kind": "reference", "target": _target(field_obj), "linked_attribute": linked}
    if isinstance(field_obj, Auto):
        return {"kind": "auto", "type": "Auto"}
    if isinstance(field_obj, Identifier):
        return {"kind": "identifier", "type": "Identifier"}
    if isinstance(field_obj, Status):
        return {"kind": "status", "type": "Status"}
    if isinstance(field_obj, Text):
        return {"kind": "text", "type": "Text"}
    if isinstance(field_obj, List):
        entry = {"kind": "list", "type": "List"}
        content = getattr(field_obj, "content", None)
        if content is not None:
            entry["content_type"] = _content_name(content)
        return entry
    if isinstance(field_obj, Dict):
        return {"kind": "dict", "type": "Dict"}
    if isinstance(field_obj, Custom):
        return {"kind": "custom", "type": _PY_TYPES.get(field_obj.python_type, "String")}
    for cls, name in _STANDARD:
        if isinstance(field_obj, cls):
            return {"kind": "standard", "type": name}
    raise IRError(
        f"field {field_obj.name!r} is a {type(field_obj).__name__}, which the IR cannot describe "
        "(it describes archipel's String, Text, Integer, Float, Decimal, Boolean, Date, DateTime, "
        "Identifier, Auto, List, Dict, Status, Custom, ValueObject, ValueObjectList, HasOne, "
        "HasMany and Reference fields)"
    )


def _content_name(content: Any) -> str:
    for cls, name in _CONTENT:
        if isinstance(content, cls):
            return name
    return type(content).__name__


def _bound(value: Any, type_name: str) -> Any:
    """A ``min_value``/``max_value`` bound as JSON: a Decimal field's as a string, others as numbers."""
    if isinstance(value, decimal.Decimal):
        if type_name == "Decimal":
            return str(value)
        return int(value) if type_name == "Integer" and value == value.to_integral_value() else float(value)
    return value


def _default(field_obj: Any) -> tuple[bool, Any]:
    """``(present, value)`` of the field's default as the IR writes it."""
    if getattr(field_obj, "_default_is_callable", False):
        return True, "<callable>"
    value = getattr(field_obj, "_default", None)
    if value is None:
        return False, None
    if isinstance(value, enum.Enum):
        value = value.value
    return True, field_obj.as_primitive(value)


def _choices(field_obj: Any) -> list[str] | None:
    if isinstance(field_obj, Status):
        return sorted(str(member.value) for member in field_obj.enum_cls)
    choices = getattr(field_obj, "choices", None)
    if choices is None:
        return None
    if isinstance(choices, type) and issubclass(choices, enum.Enum):
        return sorted(str(member.value) for member in choices)
    return sorted(str(getattr(c, "value", c)) for c in choices)


def field_ir(field_obj: Any) -> dict[str, Any]:
    """The IR dict of one field (keys sorted)."""
    entry = _shape(field_obj)
    type_name = entry.get("type", "")
    declared_required = bool(getattr(field_obj, "required", False))
    if declared_required and not _default(field_obj)[0]:
        entry["required"] = True  # a default fills a required field: it is never missing
    if getattr(field_obj, "identifier", False):
        entry["identifier"] = True
    elif getattr(field_obj, "unique", False):
        entry["unique"] = True
    if getattr(field_obj, "_auto_added", False):
        entry["auto_generated"] = True
    if entry["kind"] in ("standard", "text", "identifier", "custom", "status", "list", "dict", "auto"):
        _scalar_options(field_obj, entry, type_name, declared_required)
    description = getattr(field_obj, "description", None)
    if description:
        entry["description"] = description
    renamed_from = getattr(field_obj, "renamed_from", ())
    if renamed_from:
        entry["renamed_from"] = list(renamed_from)
    deprecated = getattr(field_obj, "deprecated", None)
    if deprecated:
        entry["deprecated"] = dict(deprecated)
    return dict(sorted(entry.items()))


def _scalar_options(field_obj: Any, entry: dict[str, Any], type_name: str, required: bool) -> None:
    max_length = getattr(field_obj, "max_length", None)
    min_length = getattr(field_obj, "min_length", None)
    if min_length is None and required and entry["kind"] in ("standard", "identifier", "text") \
            and type_name in ("String", "Identifier", "Text"):
        min_length = 1  # a required text field refuses "" (Protean writes the implied bound)
    if max_length is not None and entry["kind"] not in ("identifier", "status"):  # a Status's is its longest value
        entry["max_length"] = max_length
    if min_length is not None:
        entry["min_length"] = min_length
    for key in ("min_value", "max_value"):
        value = getattr(field_obj, key, None)
        if value is not None:
            entry[key] = _bound(value, type_name)
    if isinstance(field_obj, Decimal):
        if field_obj.max_digits is not None:
            entry["precision"] = field_obj.max_digits
        if field_obj.decimal_places is not None:
            entry["scale"] = field_obj.decimal_places
    if getattr(field_obj, "sanitize", None):
        entry["sanitize"] = True
    if getattr(field_obj, "increment", False):
        entry["increment"] = True
    if getattr(field_obj, "auto_now", False):
        entry["auto_now"] = True
    if getattr(field_obj, "auto_now_add", False):
        entry["auto_now_add"] = True
    choices = _choices(field_obj)
    if choices is not None:
        entry["choices"] = choices
    transitions = getattr(field_obj, "transitions", None)
    if transitions:
        entry["transitions"] = {
            str(getattr(k, "value", k)): [str(getattr(v, "value", v)) for v in vs] for k, vs in transitions.items()
        }
    if entry["kind"] != "auto":
        present, value = _default(field_obj)
        if present:
            entry["default"] = value


def fields_ir(cls: type) -> dict[str, Any]:
    """Field name -> IR dict of every declared field of ``cls`` (sorted by name)."""
    fields: dict[str, Any] = getattr(cls, "_fields", {})
    return {name: field_ir(field_obj) for name, field_obj in sorted(fields.items())}
