"""A use-site name in a module -> the dotted path it refers to, from the module's imports.

Each module gets a ``name -> path`` table from its top-level statements, in
source order (the last binding wins, as at runtime):

- ``import a.b.c`` binds ``a`` (the rest is reached by attribute access);
  ``import a.b.c as w`` binds ``w`` to ``a.b.c``;
- ``from a.b import c [as d]`` binds ``c`` (``d``) to ``a.b.c``; a relative
  import is anchored on the module's package (the module itself when its file
  is an ``__init__``), and one that climbs past the top package binds nothing;
- a top-level ``class``/``def`` binds its name to ``<module>.<name>``;
- an assignment (``x = ...``, ``x += ...``, ``x: T = v``) unbinds ``x``: its
  new value cannot be followed, so the name resolves to nothing rather than to
  a stale path.

:meth:`SymbolResolver.resolve` turns a ``Name`` or an attribute chain rooted at
one (``current_domain.repository_for``) into a path; anything else (a call
result, a subscript, ``self.x``) is ``None``. Re-exports are not followed:
``from archipel import Q`` is ``archipel.Q``. Nothing is imported; a module
without source has an empty table. Protean 0.18's rules resolve names this
way (``protean.ir.analysis.symbols``), so both frameworks see the same paths
with ``protean`` renamed ``archipel``.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable

from archipel.ir.analysis.sources import SourceProvider

__all__ = ["SymbolResolver", "dotted_parts"]


class SymbolResolver:
    """Resolve use-site names over parsed modules; ``elements``: the registered elements' paths."""

    def __init__(self, provider: SourceProvider, elements: Iterable[str]) -> None:
        self._provider = provider
        self._tables: dict[str, dict[str, str]] = {}
        self._elements = frozenset(elements)

    def resolve(self, module: str, node: ast.expr) -> str | None:
        """The dotted path ``node`` names in ``module``, or ``None``."""
        parts = dotted_parts(node)
        if parts is None:
            return None
        root = self.symbols(module).get(parts[0])
        return None if root is None else ".".join([root, *parts[1:]])

    def symbols(self, module: str) -> dict[str, str]:
        """``module``'s table (shared: do not mutate)."""
        table = self._tables.get(module)
        if table is None:
            table = self._build(module)
            self._tables[module] = table
        return table

    def is_domain_element(self, path: str) -> bool:
        """Whether ``path`` is the dotted path of a registered element."""
        return path in self._elements

    def _build(self, module: str) -> dict[str, str]:
        tree = self._provider.tree(module)
        table: dict[str, str] = {}
        if tree is None:
            return table
        for statement in tree.body:
            if isinstance(statement, ast.Import):
                for alias in statement.names:
                    if alias.asname:
                        table[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".", 1)[0]
                        table[top] = top
            elif isinstance(statement, ast.ImportFrom):
                base = self._base_of(module, statement)
                if base is None:
                    continue
                for alias in statement.names:
                    if alias.name != "*":
                        table[alias.asname or alias.name] = f"{base}.{alias.name}"
            elif isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                table[statement.name] = f"{module}.{statement.name}"
            else:
                for name in _rebound(statement):
                    table.pop(name, None)
        return table

    def _base_of(self, module: str, node: ast.ImportFrom) -> str | None:
        """The absolute module a ``from`` import reads from (``None``: escapes the top package)."""
        if not node.level:
            return node.module
        origin = self._provider.origin(module)
        is_package = origin is not None and os.path.splitext(os.path.basename(origin))[0] == "__init__"
        package = module if is_package else module.rpartition(".")[0]
        bits = package.rsplit(".", node.level - 1)
        if len(bits) < node.level or not bits[0]:
            return None
        return f"{bits[0]}.{node.module}" if node.module else bits[0]


def dotted_parts(node: ast.expr) -> list[str] | None:
    """``a.b.c`` -> ``["a", "b", "c"]``; ``None`` unless the chain is rooted at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    parts.reverse()
    return parts


def _rebound(statement: ast.stmt) -> list[str]:
    """The plain names a top-level assignment rebinds (attribute/subscript targets bind none)."""
    if isinstance(statement, ast.Assign):
        targets: list[ast.expr] = statement.targets
    elif isinstance(statement, ast.AugAssign) or (
        isinstance(statement, ast.AnnAssign) and statement.value is not None
    ):
        targets = [statement.target]
    else:
        return []
    names: list[str] = []
    for target in targets:
        names.extend(_names_in(target))
    return names


def _names_in(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _names_in(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _names_in(element)]
    return []
