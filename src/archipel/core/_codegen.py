"""Per-class ``__init__`` generation (as dataclasses and attrs do).

Construction runs for every command, event, aggregate and projection, so
each element class gets an ``__init__`` written for its own fields: each
field is a keyword-only parameter (Python binds the arguments: no keyword
dict is built or searched), no loop, locals instead of dict lookups.
Behaviour is exactly the generic :meth:`BaseModel.__init__`'s, which stays
the fallback: positional templates (dicts) go through it, and a class whose
field names cannot all be parameters (a keyword such as ``class``) gets the
``**kwargs`` form of the generated code.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any

from archipel.errors import ValidationError
from archipel.fields.base import MISSING, FieldError

__all__ = ["build_init"]

#: the generated function's own parameter names (no field may take them)
#: every other name the generated code uses starts with ``_a_`` (a field with such a
#: name gets the ``**kwargs`` form, where field names are only dict keys)
_SELF, _TEMPLATES, _EXTRA = "_a_self", "_a_templates", "_a_extra_kwargs"

_Plan = tuple[tuple[str, Callable[[Any], Any], Callable[[], Any] | None], ...]


def build_init(
    cls: type,
    plan: _Plan,
    merge_templates: Callable[..., dict[str, Any]],
    extra: Callable[..., dict[str, list[str]]],
) -> Callable[..., None]:
    """Return an ``__init__`` for ``cls`` following ``plan`` ((name, cleaner, default), ...)."""
    kwargs_init = _build(cls, plan, merge_templates, extra, keywords=False)
    names = [name for name, _, _ in plan]
    if any(keyword.iskeyword(n) or n.startswith("_a_") for n in names):
        return kwargs_init
    return _build(cls, plan, merge_templates, extra, keywords=True, fallback=kwargs_init)


def _build(
    cls: type,
    plan: _Plan,
    merge_templates: Callable[..., dict[str, Any]],
    extra: Callable[..., dict[str, list[str]]],
    *,
    keywords: bool,
    fallback: Callable[..., None] | None = None,
) -> Callable[..., None]:
    namespace: dict[str, Any] = {
        "_a_MISSING": MISSING,
        "_a_FieldError": FieldError,
        "_a_ValidationError": ValidationError,
        "_a_merge": merge_templates,
        "_a_extra": extra,
        "_a_fallback": fallback,
    }
    if keywords:
        params = "".join(f"{name}=_a_MISSING, " for name, _, _ in plan)
        pairs = "".join(f"({name!r}, {name}), " for name, _, _ in plan)
        lines = [
            f"def __init__({_SELF}, *{_TEMPLATES}, {params}**{_EXTRA}):",
            f"    if {_TEMPLATES}:",  # templates are merged by the general form
            f"        _a_given = {{_a_k: _a_v for _a_k, _a_v in ({pairs}) if _a_v is not _a_MISSING}}",
            f"        return _a_fallback({_SELF}, *{_TEMPLATES}, **_a_given, **{_EXTRA})",
            "    _a_errors = None",
        ]
    else:
        lines = [
            f"def __init__({_SELF}, *{_TEMPLATES}, **_a_kwargs):",
            f"    if {_TEMPLATES}:",
            f"        _a_kwargs = _a_merge({_SELF}, {_TEMPLATES}, _a_kwargs)",
            "    _a_get = _a_kwargs.get",
            "    _a_errors = None",
            "    _a_matched = 0",
        ]
    for i, (name, clean, default) in enumerate(plan):
        namespace[f"_a_c{i}"] = clean
        key = repr(name)
        if keywords:
            lines.append(f"    _a_raw = {name}")
            counted = []
        else:
            lines.append(f"    _a_raw = _a_get({key}, _a_MISSING)")
            counted = ["        _a_matched += 1"]
        if default is not None:
            namespace[f"_a_d{i}"] = default
            lines += [
                "    if _a_raw is _a_MISSING:",
                f"        _a_raw = _a_d{i}()",
                "    else:",
                *counted,
                "        if _a_raw is None:",
                f"            _a_raw = _a_d{i}()",
            ]
        else:
            lines += ["    if _a_raw is _a_MISSING:", "        _a_raw = None"]
            if counted:
                lines += ["    else:", *counted]
        lines += [
            "    try:",
            f"        _a_v{i} = _a_c{i}(_a_raw)",
            "    except _a_FieldError as _a_exc:",
            "        if _a_errors is None:",
            "            _a_errors = {}",
            f"        _a_errors[{key}] = _a_exc.messages",
        ]
    if keywords:
        lines += [f"    if {_EXTRA}:", f"        _a_errors = _a_extra({_SELF}, {_EXTRA}, _a_errors)"]
    else:
        lines += ["    if _a_matched != len(_a_kwargs):", f"        _a_errors = _a_extra({_SELF}, _a_kwargs, _a_errors)"]
    lines += [
        "    if _a_errors:",
        "        raise _a_ValidationError(_a_errors)",
        f"    _a_values = {_SELF}.__dict__",
    ]
    lines += [f"    _a_values[{name!r}] = _a_v{i}" for i, (name, _, _) in enumerate(plan)]
    lines.append(f"    {_SELF}._after_init()")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from field names only
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init._archipel_generated = True  # type: ignore[attr-defined]
    return init


def build_to_dict(
    cls: type, to_primitive: tuple[tuple[str, Callable[[Any], Any] | None], ...]
) -> Callable[[Any], dict[str, Any]]:
    """Return a ``to_dict`` for ``cls``: one dict display of its fields (converted when needed)."""
    namespace: dict[str, Any] = {}
    items = []
    for i, (name, convert) in enumerate(to_primitive):
        if convert is None:
            items.append(f"{name!r}: _a_v[{name!r}]")
        else:
            namespace[f"_a_c{i}"] = convert
            items.append(f"{name!r}: _a_c{i}(_a_v[{name!r}])")
    source = f"def to_dict(_a_self):\n    _a_v = _a_self.__dict__\n    return {{{', '.join(items)}}}"
    exec(source, namespace)  # noqa: S102 - generated from field names only
    to_dict: Callable[[Any], dict[str, Any]] = namespace["to_dict"]
    to_dict.__qualname__ = f"{cls.__qualname__}.to_dict"
    to_dict._archipel_generated = True  # type: ignore[attr-defined]
    return to_dict
