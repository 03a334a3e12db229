"""The source a domain's upgrade checks read, and the unit-of-work scan (``archipel upgrade-check``).

:func:`domain_trees` parses every module of the domain: the package the domain
is declared in (as imported) and the module of every registered element. A
module without readable source is left out (a finding is never made up).

:func:`scan_units_of_work` finds, in that source, the two shapes whose meaning
depends on what a unit of work is (see :mod:`archipel.domain.upgrade`):
``with UnitOfWork():`` blocks opened inside another in the same function, and
calls reaching outside the process inside such a block — a client library's
request verb on a name bound to that library (``httpx.post``, ``self._client.get``
after ``self._client = httpx.Client()``), or an unambiguous name (``publish``,
``send_email``, ...: :mod:`archipel.ir.analysis.coupling`, Protean's lists).
"""

from __future__ import annotations

import ast
import sys
from typing import TYPE_CHECKING

from archipel.ir.analysis.coupling import (
    EXTERNAL_IO_MODULES,
    EXTERNAL_IO_VERBS,
    UNAMBIGUOUS_IO_NAMES,
)
from archipel.ir.analysis.sources import SourceProvider

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["Tree", "attribute_path", "domain_trees", "scan_units_of_work", "summarise"]

#: a module's name and its parsed source
Tree = tuple[str, ast.Module]


def summarise(sites: list[str], limit: int = 10) -> str:
    """The first ``limit`` sites, sorted, and how many more."""
    ordered = sorted(sites)
    shown = ", ".join(ordered[:limit])
    return f"{shown} (and {len(ordered) - limit} more)" if len(ordered) > limit else shown


def _domain_modules(domain: Domain) -> list[str]:
    names: set[str] = set()
    home = getattr(domain, "_module_name", None)
    if home:
        names.add(home)
        module = sys.modules.get(home)
        package = home if module is not None and hasattr(module, "__path__") else home.rpartition(".")[0]
        if package:
            names.update(name for name in list(sys.modules) if name == package or name.startswith(package + "."))
    for _kind, cls in domain.registry.all():
        module_name = getattr(cls, "__module__", None)
        if module_name and not module_name.startswith("archipel."):
            names.add(module_name)
    return sorted(names)


def domain_trees(domain: Domain) -> list[Tree]:
    """``(module name, tree)`` of every module of the domain that has readable source."""
    provider = SourceProvider()
    trees = []
    for name in _domain_modules(domain):
        tree = provider.tree(name)
        if tree is not None:
            trees.append((name, tree))
    return trees


def attribute_path(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes on a name; None for anything else (``f().x``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = attribute_path(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _opens_unit_of_work(node: ast.AST) -> bool:
    if not isinstance(node, ast.With | ast.AsyncWith):
        return False
    for item in node.items:
        call = item.context_expr
        if isinstance(call, ast.Call):
            func = call.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "UnitOfWork":
                return True
    return False


def _client_names(tree: ast.Module) -> set[str]:
    """Names bound to an external client library: its imports, then what is assigned from them."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.split(".")[0]
                         for alias in node.names if alias.name.split(".")[0] in EXTERNAL_IO_MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in EXTERNAL_IO_MODULES:
            names.update(alias.asname or alias.name for alias in node.names)
    for _ in range(3):  # `s = requests.Session()`, then `self.s = s`: settles in a few rounds
        before = len(names)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign):
                continue
            value = node.value.func if isinstance(node.value, ast.Call) else node.value
            origin = attribute_path(value)
            if origin is None or not _reaches(origin, names):
                continue
            names.update(bound for bound in map(attribute_path, node.targets) if bound)
        if len(names) == before:
            break
    return names


def _reaches(path: str, names: set[str]) -> bool:
    return any(path == name or path.startswith(name + ".") for name in names)


def _io_label(call: ast.Call, clients: set[str]) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        receiver = attribute_path(func.value)
        if func.attr in EXTERNAL_IO_VERBS and receiver and _reaches(receiver, clients):
            return f"{receiver}.{func.attr}()"
        if func.attr in UNAMBIGUOUS_IO_NAMES:
            return f"{func.attr}()"
    elif isinstance(func, ast.Name):
        # a name imported from a client library counts only as a verb (not `urljoin`, `Session`)
        if func.id in UNAMBIGUOUS_IO_NAMES or (func.id in clients and func.id in EXTERNAL_IO_VERBS):
            return f"{func.id}()"
    return None


def _calls_inside(block: ast.AST, clients: set[str]) -> list[tuple[str, int]]:
    """External calls in ``block``, not descending into a nested unit of work (it reports its own)."""
    found: list[tuple[str, int]] = []
    pending = list(ast.iter_child_nodes(block))
    while pending:
        node = pending.pop()
        if _opens_unit_of_work(node):
            continue
        if isinstance(node, ast.Call):
            label = _io_label(node, clients)
            if label:
                found.append((label, node.lineno))
        pending.extend(ast.iter_child_nodes(node))
    return sorted(found, key=lambda item: item[1])


def scan_units_of_work(trees: list[Tree]) -> tuple[list[str], list[str], int]:
    """``(nested sites, external-call sites, unit-of-work blocks)``; sites are ``module:line``."""
    nested: list[str] = []
    calls: list[str] = []
    blocks = 0
    for module_name, tree in trees:
        opened = [node for node in ast.walk(tree) if _opens_unit_of_work(node)]
        if not opened:
            continue
        blocks += len(opened)
        clients = _client_names(tree)
        for block in opened:
            nested += [f"{module_name}:{inner.lineno}" for inner in ast.walk(block)  # type: ignore[attr-defined]
                       if inner is not block and _opens_unit_of_work(inner)]
            calls += [f"{module_name}:{line} ({label})" for label, line in _calls_inside(block, clients)]
    return nested, calls, blocks
