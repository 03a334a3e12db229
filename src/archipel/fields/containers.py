"""Fields that hold plain data collections: ``List`` and ``Dict`` (Protean's ``protean.fields.containers``).

Items are cleaned by ``content_type`` (``value_type``), a field class; without it they
must be JSON values.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from archipel.fields.base import Field, FieldError, shown
from archipel.fields.limits import check_json

__all__ = ["Dict", "List"]


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
        if "default" not in kwargs and not kwargs.get("required", False):
            kwargs["default"] = list  # Protean 0.18: an unset optional List is [] (a required one is missing)
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
        if "default" not in kwargs and not kwargs.get("required", False):
            kwargs["default"] = dict  # Protean 0.18: an unset optional Dict is {} (not None)
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
