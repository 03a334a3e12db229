"""Introspecting element classes (Protean's ``protean.utils.reflection``).

Every function takes an element class or an instance of one and returns
fields by name, in declaration order (``id_field`` returns one field).
Works on aggregates, entities, value objects, commands, events, projections.
"""

from __future__ import annotations

from typing import Any

from archipel.core.model import fields_of, id_field_of
from archipel.fields.association import Association, HasMany, HasOne, Reference
from archipel.fields.base import Field
from archipel.fields.embedded import ValueObject

__all__ = [
    "association_fields",
    "attributes",
    "data_fields",
    "declared_fields",
    "fields",
    "has_association_fields",
    "has_fields",
    "has_id_field",
    "id_field",
    "reference_fields",
    "unique_fields",
    "value_object_fields",
]


def fields(class_or_instance: Any) -> dict[str, Field]:
    """Every field of the element, including the identity."""
    return fields_of(class_or_instance)


def declared_fields(class_or_instance: Any) -> dict[str, Field]:
    """The fields a user declares (framework-private ``_``-prefixed ones left out)."""
    return {name: f for name, f in fields_of(class_or_instance).items() if not name.startswith("_")}


def data_fields(class_or_instance: Any) -> dict[str, Field]:
    """The fields carrying the element's data: the declared fields."""
    return declared_fields(class_or_instance)


def id_field(class_or_instance: Any) -> Field | None:
    """The identity field, or None (value objects, commands and events have none)."""
    name = id_field_of(class_or_instance)
    return fields_of(class_or_instance).get(name) if name else None


def has_id_field(class_or_instance: Any) -> bool:
    """Whether the element has an identity field."""
    return id_field(class_or_instance) is not None


def has_fields(class_or_instance: Any) -> bool:
    """Whether ``class_or_instance`` is an element with fields."""
    return bool(getattr(class_or_instance, "_fields", None))


def attributes(class_or_instance: Any) -> dict[str, Field]:
    """Fields stored as attributes of the element's own record (``HasOne``/``HasMany`` left
    out), by the name they are stored under (``referenced_as``, else the field's name)."""
    return {
        f.attribute_name: f
        for f in fields_of(class_or_instance).values()
        if not isinstance(f, (HasOne, HasMany))
    }


def unique_fields(class_or_instance: Any) -> dict[str, Field]:
    """Fields declared ``unique=True`` (the identity is unique too)."""
    return {name: f for name, f in fields_of(class_or_instance).items() if f.unique}


def association_fields(class_or_instance: Any) -> dict[str, Field]:
    """``HasOne`` and ``HasMany`` fields."""
    return {
        name: f
        for name, f in fields_of(class_or_instance).items()
        if isinstance(f, Association) and isinstance(f, (HasOne, HasMany))
    }


def has_association_fields(class_or_instance: Any) -> bool:
    """Whether the element has ``HasOne`` or ``HasMany`` fields."""
    return bool(association_fields(class_or_instance))


def reference_fields(class_or_instance: Any) -> dict[str, Field]:
    """``Reference`` fields (identities of other elements)."""
    return {name: f for name, f in fields_of(class_or_instance).items() if isinstance(f, Reference)}


def value_object_fields(class_or_instance: Any) -> dict[str, Field]:
    """``ValueObject`` fields (embedded value objects)."""
    return {name: f for name, f in fields_of(class_or_instance).items() if isinstance(f, ValueObject)}
