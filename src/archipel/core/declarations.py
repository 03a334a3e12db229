"""Fields declared by annotation: ``name: String(max_length=50)`` and ``age: int = 0``.

Three declaration styles are accepted and may be mixed in one class:

- assignment: ``name = String(max_length=50)`` (collected by :mod:`archipel.core.model`);
- annotation: ``name: String(max_length=50)``, optionally ``= default``;
- plain type hints: ``name: str``, ``age: int = 0``, ``note: str | None = None``,
  ``tags: list[str]``, ``price: Decimal``, ``at: datetime``, ``address: Address``
  (a value object class), ...

A plain hint without a default and without ``| None`` is required, as in
dataclasses. A hint archipel cannot map to a field is a
:class:`~archipel.errors.ConfigurationError` naming the class and attribute:
a declared attribute is never silently dropped. Names starting with ``_`` and
``ClassVar[...]`` hints are not fields.

With ``from __future__ import annotations`` hints are text; they are
evaluated in the defining module. A name that module does not define yet (a
class declared later, or inside a function) is retried by ``Domain.init()``
with the domain's registered elements in scope.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import sys
import types
import typing
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from archipel.errors import ConfigurationError
from archipel.fields import simple as _simple
from archipel.fields.association import HasMany, HasOne
from archipel.fields.base import MISSING, Field
from archipel.fields.containers import Dict, List
from archipel.fields.embedded import ValueObject

__all__ = ["annotated_fields", "field_for_hint", "retry_unresolved"]

#: a hint that still names something undefined: (class that declared it, hint text)
Unresolved = tuple[type, str]

_SCALARS: dict[Any, type[Field]] = {
    str: _simple.Text,
    int: _simple.Integer,
    float: _simple.Float,
    bool: _simple.Boolean,
    decimal.Decimal: _simple.Decimal,
    _dt.datetime: _simple.DateTime,
    _dt.date: _simple.Date,
    uuid.UUID: _simple.Identifier,
    dict: Dict,
    Any: Field,
    object: Field,
}


class _NotAField(Exception):
    """The hint cannot be mapped to a field (the message says why)."""


def field_for_hint(hint: Any, *, required: bool | None = None) -> Field:
    """Return the field a type hint declares; raise ``TypeError`` when there is none.

    ``required`` (when given) overrides the required-ness implied by the hint;
    otherwise a hint is required unless it admits ``None``.
    """
    try:
        field, optional = _convert(hint)
    except _NotAField as exc:
        raise TypeError(str(exc)) from None
    if isinstance(hint, Field) or (isinstance(hint, type) and issubclass(hint, Field)):
        return field
    field.required = (not optional) if required is None else required
    return field


def _convert(hint: Any) -> tuple[Field, bool]:
    """(field, admits None) for ``hint``."""
    if isinstance(hint, Field):
        return hint, not hint.required
    if isinstance(hint, type) and issubclass(hint, Field):
        return hint(), True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise _NotAField(f"{hint!r} mixes several types; declare one type (or T | None)")
        field, _ = _convert(args[0])
        return field, True
    if origin is typing.Annotated:
        base, *extras = typing.get_args(hint)
        declared = [e for e in extras if isinstance(e, Field)]
        infos = [e for e in extras if _is_field_info(e)]
        if len(declared) + len(infos) != len(extras) or len(declared) + len(infos) > 1:
            raise _NotAField(
                f"{hint!r}: Annotated[...] takes the type and one field: an archipel field "
                "(Annotated[str, String(max_length=50)]) or pydantic.Field(...)"
            )
        if declared:
            return declared[0], not declared[0].required
        field, optional = _convert(base)
        if infos:
            has_default = _apply_field_info(field, infos[0])
            return field, optional or has_default
        return field, optional
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        kinds = {type(c) for c in choices}
        field_cls = _SCALARS.get(kinds.pop()) if len(kinds) == 1 else None
        if field_cls is None:
            raise _NotAField(f"{hint!r}: Literal choices must all be text or all numbers")
        return field_cls(choices=choices), False
    if origin in (list, typing.List):  # noqa: UP006 - both spellings are documented
        items = typing.get_args(hint)
        if not items:
            return List(), False
        item = items[0]
        if _kind(item) == "entity":
            return HasMany(item), False
        content, _ = _convert(item)
        return List(content_type=content), False
    if origin in (dict, typing.Dict):  # noqa: UP006
        return Dict(), False
    if hint is list:
        return List(), False
    field_cls = _SCALARS.get(hint)
    if field_cls is not None:
        return field_cls(), False
    kind = _kind(hint)
    if kind == "value_object":
        return ValueObject(hint), False
    if kind == "entity":
        return HasOne(hint), False
    if kind is not None:
        raise _NotAField(
            f"{hint.__name__} is a {kind.replace('_', ' ')}: hold its identity instead, "
            f"e.g. Reference({hint.__name__!r}) or Identifier()"
        )
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = {type(m.value) for m in hint}
        field_cls = _SCALARS.get(values.pop()) if len(values) == 1 else None
        if field_cls is None:
            raise _NotAField(f"enum {hint.__name__}: its values must all be text or all numbers")
        return field_cls(choices=hint), False
    raise _NotAField(
        f"{hint!r} is not a type archipel can store; use a field (String(), Integer(), "
        "ValueObject(...), ...) or one of str, int, float, bool, Decimal, datetime, date, "
        "UUID, dict, list[...], a value object class, T | None"
    )


def _is_field_info(value: Any) -> bool:
    """A ``pydantic.Field(...)`` (recognised without importing pydantic)."""
    return type(value).__name__ == "FieldInfo" and hasattr(value, "_attributes_set")


_LIMITS = {"ge": "min_value", "le": "max_value", "max_length": "max_length", "min_length": "min_length"}
_DOCS = {"title", "examples", "json_schema_extra"}


def _apply_field_info(field: Field, info: Any) -> bool:
    """Apply a ``pydantic.Field(...)``'s settings to ``field``; True when it gives a default."""
    given = dict(info._attributes_set)
    for item in getattr(info, "metadata", ()) or ():
        # annotated-types constraints (MaxLen, Ge, ...) and pydantic's general metadata
        names = getattr(item, "__dataclass_fields__", None)
        settings = {n: getattr(item, n) for n in names} if names else dict(getattr(item, "__dict__", {}))
        if not settings:
            raise _NotAField(f"pydantic metadata {item!r} is not supported")
        given.update(settings)
    has_default = False
    checks: list[Any] = []
    for key, value in given.items():
        if key == "default":
            field.set_default(value)
            has_default = True
        elif key == "default_factory":
            field.set_default(value)
            has_default = True
        elif key == "description":
            field.description = value
        elif key in _LIMITS:
            attribute = _LIMITS[key]
            if not hasattr(field, attribute):
                raise _NotAField(f"pydantic.Field({key}=...) does not apply to a {type(field).__name__} field")
            setattr(field, attribute, value)
        elif key in ("gt", "lt", "multiple_of", "pattern"):
            checks.append(_check(key, value))
        elif key in _DOCS:
            continue
        else:
            raise _NotAField(
                f"pydantic.Field({key}=...) is not supported; supported: default, default_factory, "
                "description, title, examples, json_schema_extra, max_length, min_length, ge, le, "
                "gt, lt, multiple_of, pattern"
            )
    if checks:
        field.validators = (*field.validators, *checks)
    return has_default


def _check(key: str, limit: Any) -> Any:
    import re

    if key == "pattern":
        compiled = re.compile(limit)

        def matches(value: Any) -> None:
            if compiled.search(str(value)) is None:
                raise ValueError(f"must match {limit!r}")

        return matches

    def bound(value: Any) -> None:
        if key == "gt" and not value > limit:
            raise ValueError(f"must be greater than {limit}")
        if key == "lt" and not value < limit:
            raise ValueError(f"must be less than {limit}")
        if key == "multiple_of" and value % limit:
            raise ValueError(f"must be a multiple of {limit}")

    return bound


def _kind(hint: Any) -> str | None:
    if not isinstance(hint, type):
        return None
    kind = getattr(hint, "_element_kind", None)
    return kind if isinstance(kind, str) and kind != "model" else None


def _is_class_var(hint: Any, text: str | None) -> bool:
    if text is not None:
        head = text.strip().split("[", 1)[0]
        return head in ("ClassVar", "typing.ClassVar", "t.ClassVar")
    return hint is ClassVar or typing.get_origin(hint) is ClassVar


def _evaluate(text: str, klass: type, extra: Mapping[str, Any]) -> Any:
    module = sys.modules.get(klass.__module__)
    scope: dict[str, Any] = dict(extra)
    scope.update(vars(klass))
    return eval(text, dict(vars(module)) if module else {}, scope)  # noqa: S307 - hint text the user wrote


def _is_default(value: Any) -> bool:
    """True when a class attribute is a default value rather than a method/property."""
    if value is MISSING:
        return False
    return not hasattr(type(value), "__get__")


def annotated_fields(
    cls: type, klass: type, extra: Mapping[str, Any] | None = None
) -> tuple[dict[str, Field], dict[str, Unresolved]]:
    """Fields ``klass`` declares by annotation, installed on ``cls``.

    Returns (fields by name, unresolved hints by name). A field already
    installed on ``cls`` by an earlier call is reused, so calling this again
    is cheap and keeps field identity.
    """
    annotations = vars(klass).get("__annotations__", {})
    found: dict[str, Field] = {}
    unresolved: dict[str, Unresolved] = {}
    for name, hint in annotations.items():
        if name.startswith("_"):
            continue
        own = vars(klass).get(name, MISSING)
        if isinstance(own, Field):
            continue  # ``name: str = String(...)``: the assigned field declares it
        installed = vars(cls).get(name)
        if isinstance(installed, Field):
            found[name] = installed
            continue
        text = hint if isinstance(hint, str) else None
        if _is_class_var(hint, text):
            continue
        if text is not None:
            try:
                hint = _evaluate(text, klass, extra or {})
            except NameError:
                unresolved[name] = (klass, text)
                continue
            except Exception as exc:
                raise ConfigurationError(
                    f"{cls.__name__}.{name}: cannot read the declaration {text!r} ({exc})"
                ) from None
            if _is_class_var(hint, None):
                continue
        if own is not MISSING and not _is_default(own):
            continue  # a method or property that happens to be annotated
        info = own if _is_field_info(own) else None
        try:
            if info is not None:  # ``name: str = pydantic.Field(max_length=50)``
                field, optional = _convert(hint)
                has_default = _apply_field_info(field, info)
                field.required = not (optional or has_default)
            else:
                field = field_for_hint(hint, required=False if own is not MISSING else None)
                if own is MISSING and field.required and isinstance(field, (List, Dict)):
                    field.set_default(None)  # ``tags: list[str]`` must be given, as in dataclasses
        except (TypeError, _NotAField) as exc:
            raise ConfigurationError(f"{cls.__name__}.{name}: {exc}") from None
        if own is not MISSING and info is None:
            field.set_default(own)
        field.__set_name__(cls, name)
        type.__setattr__(cls, name, field)
        found[name] = field
    return found, unresolved


def retry_unresolved(cls: type, names: Mapping[str, Any]) -> None:
    """Evaluate ``cls``'s pending hints with ``names`` in scope, then rebuild its fields.

    Raises :class:`ConfigurationError` naming the class and attribute when a
    hint still names something unknown.
    """
    pending: dict[str, Unresolved] = dict(getattr(cls, "_unresolved", {}))
    if not pending:
        return
    for klass in {k for k, _ in pending.values()}:
        _, still = annotated_fields(cls, klass, names)
        for name, (_, text) in still.items():
            raise ConfigurationError(
                f"{cls.__name__}.{name}: the declaration {text!r} names something that is "
                "neither defined in its module nor registered with the domain"
            )
    cls._setup_fields()  # type: ignore[attr-defined]
