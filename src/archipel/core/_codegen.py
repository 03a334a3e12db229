"""Per-class ``__init__`` generation (as dataclasses and attrs do).

Construction runs for every command, event, aggregate and projection, so
each element class gets an ``__init__`` written for its own fields: no loop,
no tuple unpacking, locals instead of dict lookups. Behaviour is exactly the
generic :meth:`BaseModel.__init__`'s; the generic one stays the fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.errors import ValidationError
from archipel.fields.base import MISSING, FieldError

__all__ = ["build_init"]


def build_init(
    cls: type,
    plan: tuple[tuple[str, Callable[[Any], Any], Callable[[], Any] | None], ...],
    merge_templates: Callable[..., dict[str, Any]],
    extra: Callable[..., dict[str, list[str]]],
) -> Callable[..., None]:
    """Return an ``__init__`` for ``cls`` following ``plan`` ((name, cleaner, default), ...)."""
    namespace: dict[str, Any] = {
        "MISSING": MISSING,
        "FieldError": FieldError,
        "ValidationError": ValidationError,
        "_merge": merge_templates,
        "_extra": extra,
    }
    lines = [
        "def __init__(self, *templates, **kwargs):",
        "    if templates:",
        "        kwargs = _merge(self, templates, kwargs)",
        "    get = kwargs.get",
        "    errors = None",
        "    matched = 0",
    ]
    for i, (name, clean, default) in enumerate(plan):
        namespace[f"c{i}"] = clean
        key = repr(name)
        lines.append(f"    raw = get({key}, MISSING)")
        if default is not None:
            namespace[f"d{i}"] = default
            lines += [
                "    if raw is MISSING:",
                f"        raw = d{i}()",
                "    else:",
                "        matched += 1",
                "        if raw is None:",
                f"            raw = d{i}()",
            ]
        else:
            lines += [
                "    if raw is MISSING:",
                "        raw = None",
                "    else:",
                "        matched += 1",
            ]
        lines += [
            "    try:",
            f"        v{i} = c{i}(raw)",
            "    except FieldError as exc:",
            "        if errors is None:",
            "            errors = {}",
            f"        errors[{key}] = exc.messages",
        ]
    lines += [
        "    if matched != len(kwargs):",
        "        errors = _extra(self, kwargs, errors)",
        "    if errors:",
        "        raise ValidationError(errors)",
        "    values = self.__dict__",
    ]
    lines += [f"    values[{name!r}] = v{i}" for i, (name, _, _) in enumerate(plan)]
    lines.append("    self._after_init()")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from field names only
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init._archipel_generated = True  # type: ignore[attr-defined]
    return init
