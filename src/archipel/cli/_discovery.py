"""Protean's domain discovery: ``--domain`` as a file or folder path, and no ``--domain`` at all.

A Protean project runs ``protean server`` in the folder that holds its
``domain.py``, or passes ``--domain src/auth`` (a folder path),
``--domain auth/domain.py`` (a file) or ``--domain auth:create_domain()``
(a factory called with no arguments). The same spellings work here:

- a *path* (``.``, anything with a ``/``, or ending in ``.py``) is turned
  into a module name: the file (``x.py``, or ``x`` when ``x.py`` exists) or
  package folder it names, under as many enclosing packages as have an
  ``__init__.py``; the folder above them goes first on ``sys.path``. A plain
  folder (``.``) stands for its ``domain.py`` or ``subdomain.py``;
- with neither ``--domain`` nor ``ARCHIPEL_DOMAIN``/``PROTEAN_DOMAIN``, a
  ``domain.py``/``domain/`` or ``subdomain.py``/``subdomain/`` in the current
  folder is used; otherwise the command says no domain was given.

What is looked up in the module (``:attr`` or, without it, the instance
named ``domain``, then ``subdomain``, then the only one) is
:func:`archipel.cli._domain.find_domain`'s part.
"""

from __future__ import annotations

import ast
import os
import sys
from typing import Any

from archipel.cli._console import CliError

__all__ = ["DEFAULT_NAMES", "default_target", "evaluate", "is_path", "module_for_path"]

#: the modules a folder (or no --domain at all) stands for, in order
DEFAULT_NAMES = ("domain", "subdomain")

_LOAD_CODE = 2


def is_path(target: str) -> bool:
    """Whether ``target`` names a file or folder rather than a dotted module."""
    return target in (".", "..") or "/" in target or os.sep in target or target.endswith(".py")


def default_target(folder: str = ".") -> str | None:
    """``folder``'s ``domain.py``/``domain/`` or ``subdomain.py``/``subdomain/``, if it has one."""
    for name in DEFAULT_NAMES:
        for candidate in (f"{name}.py", os.path.join(name, "__init__.py")):
            if os.path.isfile(os.path.join(folder, candidate)):
                return os.path.join(folder, candidate)
    return None


def module_for_path(target: str) -> str:
    """The module name of the file or folder ``target``; its root goes first on ``sys.path``."""
    path = os.path.realpath(target)
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "__init__.py")):
        found = default_target(path)
        if found is None:
            raise CliError(
                f"folder {target!r} has no domain.py or subdomain.py (and is not a package)",
                hint="point --domain at the module that creates the Domain, e.g. src/my_app/domain.py",
                code=_LOAD_CODE,
            )
        path = os.path.realpath(found)
    elif not os.path.exists(path):
        if os.path.isfile(path + ".py"):
            path += ".py"
        else:
            raise CliError(
                f"no file or folder {target!r} (from {os.getcwd()})",
                hint="give a path to the module that creates the Domain, or its dotted name",
                code=_LOAD_CODE,
            )
    if path.endswith(".py"):
        path = path[:-3]
    if os.path.basename(path) == "__init__":
        path = os.path.dirname(path)
    parts: list[str] = []
    while True:  # climb out of the packages the module sits in
        path, name = os.path.split(path)
        parts.append(name)
        if not name.isidentifier():
            raise CliError(
                f"{target!r} is not importable: {name!r} is not a Python module name",
                hint="rename it, or point --domain at a module inside it",
                code=_LOAD_CODE,
            )
        if not os.path.isfile(os.path.join(path, "__init__.py")):
            break
    if not sys.path or sys.path[0] != path:
        sys.path.insert(0, path)
    return ".".join(reversed(parts))


def evaluate(module: Any, expression: str) -> Any:
    """``module``'s attribute named ``expression``, or the result of calling it (``name()``).

    Only a bare name or a call of one with no arguments is accepted; anything
    else is a usage error naming the expression.
    """
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as exc:
        raise CliError(
            f"{expression!r} is neither an attribute name nor a call like create_domain()",
            code=_LOAD_CODE,
        ) from exc
    call = isinstance(node, ast.Call)
    if call and (node.args or node.keywords):  # type: ignore[attr-defined]
        raise CliError(
            f"{expression!r}: a domain factory is called without arguments",
            hint="wrap it in a function that takes none",
            code=_LOAD_CODE,
        )
    name_node = node.func if call else node  # type: ignore[attr-defined]
    if not isinstance(name_node, ast.Name):
        raise CliError(
            f"{expression!r} is neither an attribute name nor a call like create_domain()",
            code=_LOAD_CODE,
        )
    if not hasattr(module, name_node.id):
        raise CliError(
            f"module {module.__name__!r} has no attribute {name_node.id!r}", code=_LOAD_CODE
        )
    value = getattr(module, name_node.id)
    if not call:
        return value
    if not callable(value):
        raise CliError(f"{module.__name__}.{name_node.id} is not callable", code=_LOAD_CODE)
    try:
        return value()
    except Exception as exc:
        raise CliError(
            f"{module.__name__}.{name_node.id}() failed: {type(exc).__name__}: {exc}",
            hint="rerun with --debug for the traceback",
            code=_LOAD_CODE,
        ) from exc
