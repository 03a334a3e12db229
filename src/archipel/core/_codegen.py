"""Per-class ``__init__`` generation (as dataclasses and attrs do).

Construction runs for every command, event, aggregate and projection (and,
in a projection rebuild, once per replayed event), so each element class
gets an ``__init__`` written for its own fields: each field a keyword-only
parameter (Python binds them: no dict of keyword arguments, no lookups), a
field's check inlined when its cleaner has a ``condition``
(:func:`archipel.fields.base.accepting`: a valid value costs no call, any
other goes through the full cleaner), no call of an ``_after_init`` that
does nothing. Behaviour is exactly the generic :meth:`BaseModel.__init__`'s;
a call with templates (positional dicts) or with names that are no field
goes to it, and it stays the fallback for classes whose field names cannot
be parameters.
"""

from __future__ import annotations

import ast
import builtins
import keyword
from collections.abc import Callable
from typing import Any

from archipel.errors import ValidationError
from archipel.fields.base import CONDITION_BUILTINS, MISSING, FieldError

__all__ = ["build_from_primitive", "build_init", "build_to_dict", "can_generate"]

#: the generated code's own names start with this: no field may
_PREFIX = "_ar_"


def can_generate(names: list[str] | tuple[str, ...]) -> bool:
    """True when every field name can be a keyword-only parameter of a generated ``__init__``."""
    return all(
        name.isidentifier() and not keyword.iskeyword(name) and not name.startswith(_PREFIX)
        for name in names
    )


class _Rename(ast.NodeTransformer):
    """``v`` -> the field's local, a builtin -> its prefixed alias; anything else: refused."""

    def __init__(self, var: str) -> None:
        self.var = var
        self.ok = True

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "v":
            return ast.copy_location(ast.Name(self.var, node.ctx), node)
        if node.id in CONDITION_BUILTINS:
            return ast.copy_location(ast.Name(_PREFIX + node.id, node.ctx), node)
        self.ok = False
        return node


def _inline(clean: Callable[[Any], Any], var: str) -> str | None:
    """The cleaner's ``condition`` over ``var`` (builtins by their aliases), or None."""
    condition = getattr(clean, "condition", None)
    if not isinstance(condition, str):
        return None
    try:
        tree = ast.parse(condition, mode="eval")
    except SyntaxError:
        return None
    rename = _Rename(var)
    tree = rename.visit(tree)
    return ast.unparse(tree) if rename.ok else None


def _accepts_every(default: Callable[[], Any], condition: str, var: str, namespace: dict[str, Any]) -> bool:
    """Whether every value of ``default`` passes ``condition``: a factory marked
    ``_archipel_uniform`` (its values share one shape) whose sample passes it."""
    if getattr(default, "_archipel_uniform", False) is not True:
        return False
    check = eval(f"lambda {var}: {condition}", dict(namespace))  # noqa: S307 - a field's own condition
    return bool(check(default()))


#: conditions over exact ``str`` values (immutable) of a bounded length -> a one-item list:
#: the last value that passed, shared by every generated ``__init__`` checking the same
#: condition. A value usually flows from a command to its aggregate, event and projection
#: as one object. (An unbounded text is not kept alive by a memo.)
_ACCEPTED: dict[str, list[Any]] = {}
_MEMO_PREFIX = "type(v) is str and "
#: what a check's memo holds before it accepts anything: no value a caller can pass
_NOTHING_YET = object()


def _rejects(value: Any, condition: str, var: str, namespace: dict[str, Any]) -> bool:
    """Whether ``condition`` is false for ``value`` (MISSING: set to None only where the check fails)."""
    try:
        check = eval(f"lambda {var}: {condition}", dict(namespace))  # noqa: S307 - a field's own condition
        return not check(value)
    except Exception:  # noqa: BLE001 - a condition that cannot judge it: keep the general form
        return False


def build_init(
    cls: type,
    plan: tuple[tuple[str, Callable[[Any], Any], Callable[[], Any] | None], ...],
    generic: Callable[..., None],
    after_init: bool,
    inline: tuple[list[str], dict[str, Any]] | None = None,
) -> Callable[..., None]:
    """Return an ``__init__`` for ``cls`` following ``plan`` ((name, cleaner, default), ...).

    ``generic`` is the generic ``__init__`` (templates and unknown names go
    there); ``after_init`` says whether to call ``self._after_init()``, or
    ``inline`` gives what it does as lines over ``_ar_values`` (the instance's
    dict) and the names they use (prefixed ``_ar_``): no call, no frame. The
    field names must pass :func:`can_generate`.
    """
    p = _PREFIX
    namespace: dict[str, Any] = {
        f"{p}MISSING": MISSING,
        f"{p}FieldError": FieldError,
        f"{p}ValidationError": ValidationError,
        f"{p}generic": generic,
    }
    for name in CONDITION_BUILTINS:
        namespace[p + name] = getattr(builtins, name)
    names = [name for name, _, _ in plan]
    params = "".join(f", {name}={p}MISSING" for name in names)
    given = ", ".join(f"({name!r}, {name})" for name in names)
    lines = [
        f"def __init__({p}self, *{p}templates{params}, **{p}kwargs):",
        f"    if {p}templates or {p}kwargs:",
        f"        {p}named = {{k: x for k, x in ({given}{',' if len(names) == 1 else ''}) if x is not {p}MISSING}}"
        if names else f"        {p}named = {{}}",
        f"        {p}named.update({p}kwargs)",
        f"        return {p}generic({p}self, *{p}templates, **{p}named)",
        f"    {p}errors = None",
    ]
    for i, (name, clean, default) in enumerate(plan):
        namespace[f"{p}c{i}"] = clean
        constant: Any = getattr(default, "_archipel_constant", None)
        bound = default is not None and type(constant) is tuple and len(constant) == 1
        if bound:
            # the factory returns this one object every time: bind it, no call
            namespace[f"{p}d{i}"] = constant[0]
            lines += [
                f"    if {name} is {p}MISSING or {name} is None:",
                f"        {name} = {p}d{i}",
            ]
        elif default is not None:
            namespace[f"{p}d{i}"] = default
            lines += [
                f"    if {name} is {p}MISSING or {name} is None:",
                f"        {name} = {p}d{i}()",
            ]
        condition = _inline(clean, name)
        raw = getattr(clean, "condition", None)
        if condition is not None and isinstance(raw, str) and raw.startswith(_MEMO_PREFIX) and "len(v) <= " in raw:
            # the last text this check accepted (immutable): the same object again passes
            namespace[f"{p}ok{i}"] = _ACCEPTED.setdefault(raw, [_NOTHING_YET])
            test = [
                f"if {name} is not {p}ok{i}[0]:",
                f"    if {condition}:",
                f"        {p}ok{i}[0] = {name}",
                "    else:",
            ]
        else:
            test = [f"if not ({condition}):"]
        indent = "    " * (3 if len(test) > 1 else 2)
        if default is None and condition is not None and _rejects(MISSING, condition, name, namespace):
            # no default: a missing value (None) fails the check, so it is set in the check's branch
            lines += [f"    {line}" for line in test] + [
                f"{indent}if {name} is {p}MISSING:",
                f"{indent}    {name} = None",
            ]
        elif default is None:
            indent = "    "
            lines += [
                f"    if {name} is {p}MISSING:",
                f"        {name} = None",
            ]
        elif condition is not None and (
            _accepts_every(default, condition, name, namespace)
            or (bound and not _rejects(namespace[f"{p}d{i}"], condition, name, namespace))
        ):
            # the default makes values of one shape (or the one value) the check accepts: only a
            # given value is checked
            lines += [f"    el{test[0]}"] + [f"    {line}" for line in test[1:]]
        elif condition is not None:
            lines += [f"    {line}" for line in test]
        else:
            indent = "    "
        lines += [
            f"{indent}try:",
            f"{indent}    {name} = {p}c{i}({name})",
            f"{indent}except {p}FieldError as {p}exc:",
            f"{indent}    if {p}errors is None:",
            f"{indent}        {p}errors = {{}}",
            f"{indent}    {p}errors[{name!r}] = {p}exc.messages",
        ]
    lines += [
        f"    if {p}errors:",
        f"        raise {p}ValidationError({p}errors)",
    ]
    body: list[str] = []
    if after_init and inline is not None:
        body, names_used = inline
        namespace.update(names_used)
    if names or body:
        # one store a value into the instance's dict: ``self.__dict__.update({...})`` costs fewer
        # bytecodes but more in C (a dict built, merged and freed: ~1.2 k instructions a call)
        lines.append(f"    {p}values = {p}self.__dict__")
        lines += [f"    {p}values[{name!r}] = {name}" for name in names]
        lines += [f"    {line}" for line in body]
    if after_init and inline is None:
        lines.append(f"    {p}self._after_init()")
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


def build_from_primitive(
    cls: type,
    from_primitive: tuple[tuple[str, Callable[[Any], Any] | None], ...],
    name: str,
    after_load: bool,
    generic: Callable[[type, dict[str, Any]], Any],
) -> Callable[[type, dict[str, Any]], Any]:
    """Return ``name`` (``_fill_from_primitive`` or ``_from_primitive``) for ``cls``: one
    assignment per field, converted when needed, then ``_after_load()`` if ``after_load``.

    The behaviour of :meth:`BaseModel._fill_from_primitive` for classes without renamed
    fields (a missing key is None; a converter sees None too); the caller wraps it in a
    ``classmethod``. Called for another class (a subclass reaching it through ``super()``
    from its own ``_from_primitive``), it runs ``generic`` instead. Field names appear
    only as ``repr`` literals.
    """
    namespace: dict[str, Any] = {f"{_PREFIX}owner": cls, f"{_PREFIX}generic": generic}
    lines = [
        f"def {name}({_PREFIX}cls, {_PREFIX}data):",
        f"    if {_PREFIX}cls is not {_PREFIX}owner:",
        f"        return {_PREFIX}generic({_PREFIX}cls, {_PREFIX}data)",
        f"    {_PREFIX}obj = {_PREFIX}cls.__new__({_PREFIX}cls)",
        f"    {_PREFIX}v = {_PREFIX}obj.__dict__",
        f"    {_PREFIX}get = {_PREFIX}data.get",
    ]
    for i, (field, convert) in enumerate(from_primitive):
        if convert is None:
            lines.append(f"    {_PREFIX}v[{field!r}] = {_PREFIX}get({field!r})")
        else:
            namespace[f"{_PREFIX}c{i}"] = convert
            lines.append(f"    {_PREFIX}v[{field!r}] = {_PREFIX}c{i}({_PREFIX}get({field!r}))")
    if after_load:
        lines.append(f"    {_PREFIX}obj._after_load()")
    lines.append(f"    return {_PREFIX}obj")
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from field names (as repr) only
    function: Callable[[type, dict[str, Any]], Any] = namespace[name]
    function.__qualname__ = f"{cls.__qualname__}.{function.__name__}"
    function._archipel_generated = True  # type: ignore[attr-defined]
    return function
