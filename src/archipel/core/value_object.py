"""Value objects: immutable, equal by value, validated as a whole."""

from __future__ import annotations

from typing import Any, ClassVar

from archipel.core.model import BaseModel
from archipel.errors import ValidationError

__all__ = ["BaseValueObject"]


class BaseValueObject(BaseModel):
    """Base class of value objects (``Money``, ``Address``, ...).

    Two value objects are equal when they have the same class and the same
    field values. They cannot be changed after creation: build a new one.
    Post invariants run once, at creation.
    """

    _immutable: ClassVar[bool] = True
    _element_kind: ClassVar[str] = "value_object"

    def _after_init(self) -> None:
        if self._post_invariants:
            errors: dict[str, list[str]] = {}
            for check in self._post_invariants:
                try:
                    check(self)
                except ValidationError as exc:
                    for key, messages in exc.messages.items():
                        errors.setdefault(key, []).extend(messages)
            if errors:
                raise ValidationError(errors)

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
