"""Embedded value objects: ``ValueObject`` and ``ValueObjectFromEntity`` (Protean's
``protean.fields.embedded``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.fields.association import _Embedded

__all__ = ["ValueObject", "ValueObjectFromEntity"]


class ValueObject(_Embedded):
    """Embeds a value object (equal by value, immutable)."""

    type_name = "value_object"


class ValueObjectFromEntity(ValueObject):
    """A value object generated from an entity's fields: ``ValueObjectFromEntity(OrderItem)``.

    The value object (``<Entity>ValueObject``) has the entity's fields except
    references, with its identity as a plain field; nested entities become
    nested value objects. Handy in commands and events that carry an entity's data.
    """

    #: builds the value object class; set by :mod:`archipel.core.value_object`
    #: (fields never import the element layer)
    factory: Callable[[type], type] | None = None

    def __init__(self, entity_cls: type, **kwargs: Any) -> None:
        factory = ValueObjectFromEntity.factory
        if factory is None:  # pragma: no cover - archipel's package import sets it
            raise RuntimeError("import archipel before declaring ValueObjectFromEntity fields")
        super().__init__(factory(entity_cls), **kwargs)
