"""The class and method index of parsed modules: a class object -> its ``ast.ClassDef`` and methods.

A module's classes are keyed by the ``__qualname__`` Python gives them
(``Outer.Inner``, ``build.<locals>.Order``); when a module defines the same
qualname twice, the first definition in source order is the one indexed (a
stable answer; Protean's choice). A class's methods are the functions written
in its body, including under an ``if``/``try`` of that body, but not those of a
nested class or function; each carries the last dotted segment of its
decorators (``@handle(X)`` -> ``handle``, ``@invariant.post`` -> ``post``).

A class is found by ``(__module__, __qualname__)``. A bare qualname that names
several classes of the module (one nested somewhere) is pinned by the
``co_qualname`` of the functions written in its body; when that does not
single one out, the answer is ``None``. Every miss — no source, no such class,
an ambiguous one — is ``None`` and the rule asking skips the class (fail open),
as in Protean 0.18 (``protean.ir.analysis.element_index``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from archipel.ir.analysis.sources import SourceProvider

__all__ = ["ClassEntry", "ClassIndex", "FunctionNode", "MethodEntry"]

#: a method body, sync or async (handlers are often ``async def``)
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
#: nodes that can hold a statement: the walk never descends into an expression
_STATEMENTS = (ast.stmt, ast.excepthandler, ast.match_case)


@dataclass(frozen=True, slots=True)
class MethodEntry:
    """One method written in a class body."""

    name: str
    node: FunctionNode
    #: the last dotted segment of each decorator, in source order
    decorators: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClassEntry:
    """One class of a module, with its methods sorted by name."""

    module: str
    qualname: str
    node: ast.ClassDef
    methods: tuple[MethodEntry, ...] = field(default=())


class ClassIndex:
    """Classes of the modules a :class:`SourceProvider` parses, indexed on first use."""

    def __init__(self, provider: SourceProvider) -> None:
        self._provider = provider
        self._modules: dict[str, dict[str, ClassEntry]] = {}

    def entries(self, module: str) -> dict[str, ClassEntry]:
        """qualname -> entry for every class of ``module`` (empty without source)."""
        found = self._modules.get(module)
        if found is None:
            tree = self._provider.tree(module)
            found = _index(module, tree) if tree is not None else {}
            self._modules[module] = found
        return found

    def class_entry(self, cls: type) -> ClassEntry | None:
        """The class ``cls`` was written as, or ``None`` (no source, not found, ambiguous)."""
        module = getattr(cls, "__module__", None)
        qualname = getattr(cls, "__qualname__", None)
        if not isinstance(module, str) or not isinstance(qualname, str) or not qualname:
            return None
        index = self.entries(module)
        if "." in qualname:
            return index.get(qualname)
        candidates = [key for key in sorted(index) if key.rsplit(".", 1)[-1] == qualname]
        if len(candidates) == 1:
            return index[candidates[0]]
        if not candidates:
            return None
        written = _written_qualname(cls)
        return index.get(written) if written is not None else None

    def methods(self, cls: type) -> tuple[MethodEntry, ...]:
        """The methods written in ``cls``'s body, sorted by name (empty without source)."""
        entry = self.class_entry(cls)
        return entry.methods if entry is not None else ()


def _index(module: str, tree: ast.Module) -> dict[str, ClassEntry]:
    entries: dict[str, ClassEntry] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _STATEMENTS):
                continue
            if isinstance(child, ast.ClassDef):
                qualname = f"{prefix}{child.name}"
                if qualname not in entries:
                    entries[qualname] = ClassEntry(module, qualname, child, _methods(child))
                walk(child, f"{qualname}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                walk(child, f"{prefix}{child.name}.<locals>.")
            else:
                walk(child, prefix)

    walk(tree, "")
    return entries


def _methods(node: ast.ClassDef) -> tuple[MethodEntry, ...]:
    found: dict[str, MethodEntry] = {}

    def collect(parent: ast.AST) -> None:
        for child in ast.iter_child_nodes(parent):
            if not isinstance(child, _STATEMENTS):
                continue
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if child.name not in found:
                    found[child.name] = MethodEntry(child.name, child, _decorators(child))
            elif not isinstance(child, ast.ClassDef):
                collect(child)

    collect(node)
    return tuple(found[name] for name in sorted(found))


def _decorators(node: FunctionNode) -> tuple[str, ...]:
    names = []
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, ast.Attribute):
            names.append(target.attr)
    return tuple(names)


def _written_qualname(cls: type) -> str | None:
    """The qualname ``cls`` was written under, read off the ``co_qualname`` of its own functions.

    archipel mixes the base class into a plain class by subclassing it, so the
    functions may sit on a base of the same name: those are read too. Only one
    unanimous answer counts.
    """
    parents = set()
    owners = [c for c in getattr(cls, "__mro__", (cls,)) if c.__name__ == cls.__name__]
    for owner in owners:
        for value in vars(owner).values():
            code = _code_of(value)
            if code is None or "." not in code.co_qualname:
                continue
            parent = code.co_qualname.rpartition(".")[0]
            if parent.rsplit(".", 1)[-1] == cls.__name__:
                parents.add(parent)
    return parents.pop() if len(parents) == 1 else None


def _code_of(value: Any) -> CodeType | None:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    elif isinstance(value, property):
        value = value.fget
    seen: set[int] = set()
    while True:
        wrapped = getattr(value, "__wrapped__", None)
        if wrapped is None or id(wrapped) in seen:
            break
        seen.add(id(wrapped))
        value = wrapped
    code = getattr(value, "__code__", None)
    return code if isinstance(code, CodeType) else None
