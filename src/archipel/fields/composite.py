"""Fields that hold collections or other domain elements.

``List`` and ``Dict`` hold plain data. ``ValueObject`` embeds a value object;
``HasMany``/``HasOne`` hold entities that belong to the aggregate;
``Reference`` holds the identity of another element. Element classes may be
named by string (``HasMany("OrderItem")``); ``Domain.init()`` resolves them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from archipel.fields.base import Field, FieldError, shown
from archipel.fields.limits import check_json
from archipel.fields.simple import check_identity

__all__ = [
    "List", "Dict", "ValueObject", "ValueObjectFromEntity", "HasMany", "HasOne", "Reference", "Association",
]


def _content_field(content_type: Any) -> Field | None:
    if content_type is None:
        return None
    if isinstance(content_type, Field):
        return content_type
    if isinstance(content_type, type) and issubclass(content_type, Field):
        return content_type()
    raise TypeError(
        f"content_type/value_type takes a field class such as String or Dict, got {shown(content_type)}"
    )


class List(Field):
    """A list whose items are cleaned by ``content_type`` (a field class).

    Items keep their declared type through every store (``List(content_type=Decimal)``
    reads back decimals). Without ``content_type`` the items must be JSON values
    (text, 64-bit integers, finite floats, booleans, None, lists, dicts with text
    keys), kept as such; anything else is a validation error.
    """

    type_name = "list"

    def __init__(self, content_type: Any = None, pickled: bool = False, **kwargs: Any) -> None:
        if pickled:
            # Protean 0.18 deprecates it too: lists are stored as JSON everywhere
            warnings.warn("`pickled=` on List has no effect (deprecated in Protean 0.12)", DeprecationWarning, stacklevel=2)
        kwargs.setdefault("default", list)
        super().__init__(**kwargs)
        self.content = _content_field(content_type)

    def cast(self, value: Any) -> Any:
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise FieldError(f"expected a list, got {type(value).__name__}")
        content = self.content
        if content is None:
            items = list(value)
            for position, item in enumerate(items):
                try:
                    check_json(item)
                except FieldError as exc:
                    raise FieldError([f"item {position}: {m}" for m in exc.messages]) from None
            return items
        cleaned = []
        for position, item in enumerate(value):
            try:
                cleaned.append(content.clean(item))
            except FieldError as exc:
                raise FieldError([f"item {position}: {m}" for m in exc.messages]) from None
        return cleaned

    def as_primitive(self, value: Any) -> Any:
        if value is None:
            return None
        content = self.content
        if content is None or type(content).as_primitive is Field.as_primitive:
            return list(value)
        return [content.as_primitive(v) for v in value]

    def from_primitive(self, value: Any) -> Any:
        if value is None:
            return None
        content = self.content
        if content is None or type(content).from_primitive is Field.from_primitive:
            return list(value)
        return [content.from_primitive(v) for v in value]

    def resolve(self, resolver: Callable[[str], type]) -> None:
        if self.content is not None:
            self.content.resolve(resolver)


class Dict(Field):
    """A JSON mapping: text keys; values are text, 64-bit integers, finite floats,
    booleans, None, lists and dicts (kept exactly by every store; anything else,
    such as a decimal, a date or a non-text key, is a validation error).

    With ``value_type`` (a field class or instance, Protean's option), every value
    is cleaned and stored by that field instead: ``Dict(value_type=Date)``."""

    type_name = "dict"

    def __init__(self, value_type: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values_field = _content_field(value_type)

    def cast(self, value: Any) -> Any:
        if not isinstance(value, dict):
            to_dict = getattr(value, "to_dict", None)
            if not callable(to_dict):
                raise FieldError(f"expected a mapping, got {type(value).__name__}")
            value = to_dict()
        content = self.values_field
        if content is None:
            return check_json(dict(value) if type(value) is not dict else value)
        cleaned = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise FieldError(f"keys are text, got {key!r}")
            try:
                cleaned[key] = content.clean(item)
            except FieldError as exc:
                raise FieldError([f"value of {key!r}: {m}" for m in exc.messages]) from None
        return cleaned

    def as_primitive(self, value: Any) -> Any:
        if value is None:
            return None
        content = self.values_field
        if content is None or type(content).as_primitive is Field.as_primitive:
            return dict(value)
        return {k: content.as_primitive(v) for k, v in value.items()}

    def from_primitive(self, value: Any) -> Any:
        content = self.values_field
        if value is None or content is None or type(content).from_primitive is Field.from_primitive:
            return value
        return {k: content.from_primitive(v) for k, v in value.items()}

    def resolve(self, resolver: Callable[[str], type]) -> None:
        if self.values_field is not None:
            self.values_field.resolve(resolver)


class Association(Field):
    """Base of fields whose content is another element class."""

    def __init__(self, to_cls: type | str, *, via: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._to: type | str = to_cls
        #: (``HasMany``/``HasOne``) the child's field that holds its parent's identity
        self.via = via

    @property
    def to_cls(self) -> type:
        if isinstance(self._to, str):
            raise FieldError(
                f"{self._to!r} is not resolved yet: register it with the domain and call domain.init()"
            )
        return self._to

    @property
    def target_name(self) -> str:
        return self._to if isinstance(self._to, str) else self._to.__name__

    def resolve(self, resolver: Callable[[str], type]) -> None:
        if isinstance(self._to, str):
            self._to = resolver(self._to)

    def _build(self, value: Any) -> Any:
        cls = self.to_cls
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            from archipel.errors import ValidationError

            odd = next((key for key in value if type(key) is not str), None)
            if odd is not None:
                raise FieldError(f"keys must be field names (text), got {shown(odd)}")

            try:
                return cls(**value)
            except ValidationError as exc:
                raise FieldError(
                    [f"{k}: {'; '.join(v)}" for k, v in exc.messages.items()]
                ) from None
        raise FieldError(f"expected {cls.__name__} or a mapping, got {type(value).__name__}")


class _Embedded(Association):
    """One nested element, stored as its ``to_dict()``."""

    def cast(self, value: Any) -> Any:
        return self._build(value)

    def as_primitive(self, value: Any) -> Any:
        return None if value is None else value.to_dict()

    def from_primitive(self, value: Any) -> Any:
        if value is None or not isinstance(value, dict):
            return value
        return self.to_cls._from_primitive(value)  # type: ignore[attr-defined]


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


class HasMany(Association):
    """Entities owned by the aggregate; ``add_<name>``/``remove_<name>`` are generated."""

    type_name = "has_many"

    def __init__(self, to_cls: type | str, **kwargs: Any) -> None:
        kwargs.setdefault("default", list)
        super().__init__(to_cls, **kwargs)

    def cast(self, value: Any) -> Any:
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise FieldError(f"expected a list of {self.target_name}, got {type(value).__name__}")
        return [self._build(item) for item in value]

    def as_primitive(self, value: Any) -> Any:
        return [] if value is None else [item.to_dict() for item in value]

    def from_primitive(self, value: Any) -> Any:
        if not value:
            return []
        cls = self.to_cls
        return [cls._from_primitive(item) for item in value]  # type: ignore[attr-defined]


class HasOne(_Embedded):
    """One entity owned by the aggregate."""

    type_name = "has_one"


class Reference(Association):
    """The identity of another aggregate or entity (an instance is accepted too)."""

    type_name = "identifier"

    def cast(self, value: Any) -> Any:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            if isinstance(value, int) and not -(10**255) < value < 10**255:
                raise FieldError("must be at most 255 characters long (an identity)")
            return check_identity(value if type(value) is str else str(value))
        identity = getattr(value, "_identity", None)
        if callable(identity):
            return identity()
        raise FieldError(f"expected an identity of {self.target_name}, got {shown(value)}")
