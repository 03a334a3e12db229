"""Value objects: immutable, equal by value, validated as a whole."""

from __future__ import annotations

from typing import Any, ClassVar

from archipel.core.invariant import failure_codes
from archipel.core.model import BaseModel, run_defaults
from archipel.error_codes import VALUE_OBJECT_INVARIANT_FAILED
from archipel.errors import ConfigurationError, IncorrectUsageError, ValidationError
from archipel.fields.association import HasMany, HasOne, Reference
from archipel.fields.containers import List
from archipel.fields.embedded import ValueObject, ValueObjectFromEntity

__all__ = ["BaseValueObject", "value_object_from_entity"]

#: the fields linking to other elements, which no value object holds
_ASSOCIATIONS = (HasMany, HasOne, Reference)


class BaseValueObject(BaseModel):
    """Base class of value objects (``Money``, ``Address``, ...).

    Two value objects are equal when they have the same class and the same
    field values. They cannot be changed after creation: build a new one.
    Post invariants run once, at creation.
    """

    _immutable: ClassVar[bool] = True
    _element_kind: ClassVar[str] = "value_object"

    @classmethod
    def _setup_fields(cls) -> None:
        super()._setup_fields()
        for name, field in cls._fields.items():
            refused = (
                "is an identifier" if field.identifier
                else "is unique" if field.unique
                else f"is an association ({type(field).__name__})" if isinstance(field, _ASSOCIATIONS)
                else None
            )
            if refused is not None:
                raise ConfigurationError(
                    f"value object {cls.__name__}.{name} {refused}: a value object has no identity, "
                    "uniqueness or associations (Protean refuses them too); make it an entity"
                )

    def _after_init(self) -> None:
        if self._has_defaults:
            run_defaults(self)
        if self._post_invariants:
            errors: dict[str, list[str]] = {}
            failed: list[Any] = []
            for check in self._post_invariants:
                try:
                    check(self)
                except ValidationError as exc:
                    failed.append(check)
                    for key, messages in exc.messages.items():
                        errors.setdefault(key, []).extend(messages)
            if errors:
                raise ValidationError(
                    errors,
                    codes=failure_codes(failed, VALUE_OBJECT_INVARIANT_FAILED),
                    location=type(self).__qualname__,
                )

    def replace(self, **changes: Any) -> Any:
        """A new value object with ``changes`` applied to this one's values (Protean's, like
        ``dataclasses.replace``); it is validated anew. ``IncorrectUsageError`` names an unknown field."""
        unknown = sorted(set(changes) - set(self._fields))
        if unknown:
            raise IncorrectUsageError(
                f"{type(self).__name__} has no field(s) {', '.join(unknown)}; its fields: {', '.join(self._fields)}"
            )
        values = {name: self.__dict__.get(name) for name in self._fields}
        values.update(changes)
        return type(self)(**values)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self), tuple(_hashable(v) for v in self.__dict__.values())))


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def value_object_from_entity(
    entity_cls: type, name: str | None = None, exclude: set[str] | None = None
) -> type[BaseValueObject]:
    """A value object class with ``entity_cls``'s fields (``<Entity>ValueObject`` by default).

    References are left out, identifier and unique fields become optional fields
    defaulting to None (as in Protean), ``HasOne`` and ``HasMany`` children become
    nested value objects (one, or a list).
    """
    import copy

    from archipel.errors import IncorrectUsageError

    fields = getattr(entity_cls, "_fields", None)
    if not isinstance(entity_cls, type) or fields is None or getattr(entity_cls, "_element_kind", "") not in (
        "entity", "aggregate"
    ):
        raise IncorrectUsageError(f"value_object_from_entity takes an entity class, got {entity_cls!r}")
    namespace: dict[str, Any] = {"__module__": entity_cls.__module__}
    for field_name, field in fields.items():
        if field_name in (exclude or set()) or field_name.startswith("_") or isinstance(field, Reference):
            continue
        if isinstance(field, HasOne):
            namespace[field_name] = ValueObject(value_object_from_entity(field.to_cls), required=field.required)
        elif isinstance(field, HasMany):
            namespace[field_name] = List(content_type=ValueObject(value_object_from_entity(field.to_cls)))
        else:
            clone = copy.copy(field)
            if field.identifier or field.unique:  # identity concerns, not value: optional, None (Protean)
                clone.required = False
                clone._default = None
            clone.identifier = False
            clone.unique = False
            namespace[field_name] = clone
    return type(name or f"{entity_cls.__name__}ValueObject", (BaseValueObject,), namespace)


# ``ValueObjectFromEntity`` (a field) builds its class with this function
ValueObjectFromEntity.factory = value_object_from_entity
