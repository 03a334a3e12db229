"""``Custom``: a field over a type archipel has no field for, with its parser and serializer.

``Custom(Color, validators=[PlainValidator(parse_color)],
serializers=[PlainSerializer(lambda c: c.hex)])`` — Protean passes Pydantic
annotation objects; archipel reads their ``func`` (no Pydantic needed), and
accepts plain callables too:

- a ``PlainValidator`` (or a plain callable) parses a raw value into the type;
- a ``BeforeValidator`` prepares the raw value first;
- an ``AfterValidator`` checks (and may replace) the parsed value;
- a ``PlainSerializer`` (or a plain callable) renders the value for storage
  and messages; without one, ``to_dict()`` is used when the type has it.

A value of the type is kept as is. Anything the parser or a check rejects
(``ValueError``/``TypeError``) is a validation error of the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from archipel.fields.base import Field, FieldError

__all__ = ["Custom"]


def _split(validators: Iterable[Any]) -> tuple[list[Callable[..., Any]], list[Callable[..., Any]], list[Callable[..., Any]]]:
    before: list[Callable[..., Any]] = []
    parsers: list[Callable[..., Any]] = []
    after: list[Callable[..., Any]] = []
    for item in validators:
        kind = type(item).__name__
        func = getattr(item, "func", None)
        if kind == "BeforeValidator" and callable(func):
            before.append(func)
        elif kind == "AfterValidator" and callable(func):
            after.append(func)
        elif kind == "PlainValidator" and callable(func):
            parsers.append(func)
        elif callable(item) and func is None:
            parsers.append(item)
        else:
            raise TypeError(
                f"Custom(validators=...) takes PlainValidator, BeforeValidator, AfterValidator "
                f"or callables; {kind} is not supported"
            )
    if len(parsers) > 1:
        raise TypeError("Custom() takes one parser (PlainValidator or callable)")
    return before, parsers, after


def _serializer(serializers: Iterable[Any]) -> Callable[[Any], Any] | None:
    found: list[Callable[[Any], Any]] = []
    for item in serializers:
        kind = type(item).__name__
        func = getattr(item, "func", None)
        if kind == "PlainSerializer" and callable(func):
            found.append(func)
        elif callable(item) and func is None:
            found.append(item)
        else:
            raise TypeError(f"Custom(serializers=...) takes PlainSerializer or callables; {kind} is not supported")
    if len(found) > 1:
        raise TypeError("Custom() takes one serializer")
    return found[0] if found else None


class Custom(Field):
    """A field holding instances of ``python_type`` (see the module docstring)."""

    type_name = "any"

    def __init__(
        self,
        python_type: type,
        *,
        validators: Iterable[Any] = (),
        serializers: Iterable[Any] = (),
        **kwargs: Any,
    ) -> None:
        if not isinstance(python_type, type):
            raise TypeError(f"Custom() takes a type first, got {python_type!r}")
        if kwargs.get("choices") is not None:
            raise TypeError("Custom() does not take choices: use String(choices=...) or Status()")
        super().__init__(**kwargs)
        self.python_type = python_type
        self._before, parsers, self._after = _split(validators)
        self._parse = parsers[0] if parsers else None
        self._serialize = _serializer(serializers)

    def cast(self, value: Any) -> Any:
        try:
            for prepare in self._before:
                value = prepare(value)
            if not isinstance(value, self.python_type):
                if self._parse is None:
                    raise FieldError(
                        f"expected {self.python_type.__name__}, got {type(value).__name__} "
                        "(give Custom a parser to accept other forms)"
                    )
                value = self._parse(value)
            for check in self._after:
                value = check(value)
        except (ValueError, TypeError) as exc:
            raise FieldError(str(exc) or f"not a valid {self.python_type.__name__}") from None
        if not isinstance(value, self.python_type):
            raise FieldError(f"expected {self.python_type.__name__}, got {type(value).__name__}")
        return value

    def as_primitive(self, value: Any) -> Any:
        if value is None:
            return None
        if self._serialize is not None:
            return self._serialize(value)
        to_dict = getattr(value, "to_dict", None)
        return to_dict() if callable(to_dict) else value

    def from_primitive(self, value: Any) -> Any:
        if value is None or isinstance(value, self.python_type):
            return value
        return self.cast(value)
