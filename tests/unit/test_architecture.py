"""The import rules of the layers, checked on the source with ``ast`` (no imports run).

- ``core/`` and ``fields/`` import only the standard library, msgspec,
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


PURE_ALLOWED_LAYERS = {"core", "fields", "errors"}
PURE_ALLOWED_MODULES = {"archipel.utils.query"}


@pytest.mark.parametrize("folder", ["core", "fields"])
def test_core_and_fields_import_only_pure_layers_stdlib_and_msgspec(folder):
    offences = []
    for path in modules_in(folder):
        for name in imports_of(path):
            if top(name) == "archipel":
                if layer(name) not in PURE_ALLOWED_LAYERS and name not in PURE_ALLOWED_MODULES:
                    offences.append(f"{path.relative_to(PACKAGE)} imports {name}")
            elif top(name) not in STDLIB and top(name) != "msgspec":
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
