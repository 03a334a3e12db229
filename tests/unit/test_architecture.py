"""The import rules of the layers, checked on the source with ``ast`` (no imports run).

- ``core/`` and ``fields/`` import only the standard library, msgspec, ``archipel.error_codes``,
  ``archipel.core|fields|errors`` and the pure helper ``archipel.utils.query`` — never adapters, handling, domain, engine, cli,
  observatory or integrations;
- ``port/`` imports no adapter;
- ``adapters/`` never import ``cli``, ``engine`` or ``observatory``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "archipel"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def modules_in(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def imports_of(path: Path) -> list[str]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    package = list(path.relative_to(PACKAGE.parent).parts[:-1])  # e.g. ["archipel", "core"]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.append(".".join([*base, node.module] if node.module else base))
            else:
                found.append(node.module or "")
    return found


def top(name: str) -> str:
    return name.split(".")[0]


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "archipel" and len(parts) > 1 else None


PURE_ALLOWED_LAYERS = {"core", "fields", "errors", "error_codes"}
#: ``utils.scope`` only defines the context variable of the message being handled (raise_ reads it)
#: ``utils.clock`` reads the active domain's clock from it (messages' time, auto_now fields)
#: ``utils.wide_events`` writes Protean's security events (failed invariants) with the stdlib's logging
PURE_ALLOWED_MODULES = {
    "archipel.utils.query", "archipel.utils.scope", "archipel.utils.clock", "archipel.utils.wide_events",
}
#: (module, import) of optional pure-function libraries imported lazily where used
#: (``String(sanitize=True)`` cleans HTML with bleach, Protean's choice; no I/O)
OPTIONAL_PURE = {("archipel.fields.text", "bleach")}


@pytest.mark.parametrize("folder", ["core", "fields"])
def test_core_and_fields_import_only_pure_layers_stdlib_and_msgspec(folder):
    offences = []
    for path in modules_in(folder):
        if module_name(path) in FACADES:
            continue
        for name in imports_of(path):
            if top(name) == "archipel":
                if layer(name) not in PURE_ALLOWED_LAYERS and name not in PURE_ALLOWED_MODULES:
                    offences.append(f"{path.relative_to(PACKAGE)} imports {name}")
            elif top(name) not in STDLIB and top(name) != "msgspec" and (module_name(path), name) not in OPTIONAL_PURE:
                offences.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offences == []


def test_ports_import_no_adapter():
    offences = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules_in("port")
        for name in imports_of(path)
        if layer(name) == "adapters"
    ]
    assert offences == []


def test_adapters_never_import_cli_engine_or_observatory():
    offences = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules_in("adapters")
        for name in imports_of(path)
        if layer(name) in {"cli", "engine", "observatory"}
    ]
    assert offences == []


def test_the_checker_sees_absolute_and_future_imports():
    # guard against a checker that silently finds nothing
    sample = PACKAGE / "core" / "aggregate.py"
    names = imports_of(sample)
    assert "archipel.core.entity" in names
    assert "__future__" in names
    assert all(modules_in(folder) for folder in ("core", "fields", "port", "adapters"))


# -- the house rules of issue 11 -------------------------------------------------------------

#: documented Protean paths that re-export a name whose code lives in a higher layer
#: (docs/porting.md says why); they are leaves: nothing in archipel imports them
FACADES = {
    "archipel.core.repository": "archipel.handling.repository",
    "archipel.core.event_sourced_repository": "archipel.handling.event_sourced_repository",
    "archipel.core.unit_of_work": "archipel.handling.unit_of_work",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node that can run: ``if TYPE_CHECKING:`` bodies are left out (they never
    run; type-only names of a higher layer are checked by the layer tests instead)."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == (
            "TYPE_CHECKING"
        ):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def graph() -> dict[str, set[str]]:
    """Module -> archipel modules it imports, at any depth of the file (lazy imports count).

    ``from archipel.a import b`` is an edge to ``archipel.a.b`` when that is a module, else
    to ``archipel.a`` (as import-linter counts them: a package's ``__init__`` running
    first is not an edge of its submodules).
    """
    modules = all_modules()
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, node.module] if node.module else base)
                else:
                    module = node.module or ""
                targets = [
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                    for alias in node.names
                ]
            found.update(t for t in targets if t in modules and t != name)
        edges[name] = found
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_lazy_imports_included():
    assert cycles(graph()) == []


def test_the_graph_counts_lazy_imports_and_skips_type_checking_blocks():
    edges = graph()
    # a function-level (lazy) import is an edge
    assert "archipel.handling.process_managers" in edges["archipel.domain.storage"]
    # ``if TYPE_CHECKING:`` imports are not
    assert "archipel.domain.domain" not in edges["archipel.engine.worker"]


def test_the_cycle_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_adapters_never_import_domain_handling_or_engine():
    offences = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules_in("adapters")
        for name in imports_of(path)
        if layer(name) in {"domain", "handling", "engine", "server", "cli", "observatory"}
    ]
    assert offences == []


def test_handling_names_no_domain_module_even_for_type_hints():
    # handling/ states what it needs of a domain in handling/protocols.py
    offences = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules_in("handling")
        for name in imports_of(path)
        if layer(name) in {"domain", "engine", "server", "cli", "observatory"}
    ]
    assert offences == []


def test_lower_layers_never_import_higher_ones():
    order = ["errors", "utils.low", "fields", "core", "port", "adapters", "handling", "domain", "engine"]
    low_utils = {"archipel.utils.globals", "archipel.utils.processing", "archipel.utils.query",
                 "archipel.utils.naming"}

    def rank(name: str) -> int | None:
        if name in low_utils:
            return order.index("utils.low")
        lay = layer(name)
        return order.index(lay) if lay in order else None

    offences = []
    for name, path in all_modules().items():
        if name in FACADES:
            continue
        mine = rank(name)
        if mine is None:
            continue
        for target in imports_of(path):
            theirs = rank(target)
            if theirs is not None and theirs > mine:
                offences.append(f"{name} imports {target}")
    assert offences == []


def test_facades_are_leaves_and_only_re_export():
    edges = graph()
    for facade, home in FACADES.items():
        assert edges[facade] <= {home, *[m for m in edges if home.startswith(m + ".")]}, facade
        users = sorted(m for m, targets in edges.items() if facade in targets and m != "archipel")
        assert users == [], f"{facade} is a documented façade; import {home} instead ({users})"


def protocol_methods(path: Path) -> dict[str, int]:
    counts = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef) and any(
            getattr(base, "id", getattr(base, "attr", None)) == "Protocol" for base in node.bases
        ):
            counts[node.name] = sum(isinstance(item, ast.FunctionDef) for item in node.body)
    return counts


def test_every_port_has_at_most_eight_methods():
    counts = {
        f"{path.stem}.{name}": count
        for path in modules_in("port")
        for name, count in protocol_methods(path).items()
    }
    assert counts, "no port protocol found"
    assert {name: n for name, n in counts.items() if n > 8} == {}
