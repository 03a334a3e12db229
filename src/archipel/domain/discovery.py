"""Importing a domain's modules so their decorators register the elements.

The domain's package is the one whose ``__init__.py`` created the
``Domain`` (seed 000's layout: each bounded context is a package). Every
module below it is imported by its real dotted name, sub-packages included,
except test folders and sub-packages that carry their own ``domain.toml``
(another bounded context).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

__all__ = ["import_domain_modules"]

_SKIP_DIRS = {"tests", "test", "__pycache__", "migrations"}


def import_domain_modules(module_name: str | None, module_file: str | None) -> list[str]:
    """Import every module of the domain's package; return their names."""
    if not module_name or not module_file:
        return []
    path = Path(module_file).resolve()
    if path.name == "__init__.py":
        package_name, root = module_name, path.parent
    else:
        package_name = module_name.rpartition(".")[0]
        root = path.parent
        if not package_name:
            return []  # a top-level script: nothing to traverse safely
    imported = []
    for file in sorted(root.rglob("*.py")):
        relative = file.relative_to(root)
        if any(part in _SKIP_DIRS or part.startswith((".", "test_")) for part in relative.parts[:-1]):
            continue
        if relative.name.startswith(("test_", "conftest")) or relative.name == "__main__.py":
            continue
        if not _is_package_chain(root, relative):
            continue
        if any((root / Path(*relative.parts[:i]) / name).exists()
               for i in range(1, len(relative.parts))
               for name in ("domain.toml", ".domain.toml")):
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        dotted = ".".join([package_name, *parts]) if parts else package_name
        if dotted == module_name or dotted in sys.modules:
            continue
        importlib.import_module(dotted)
        imported.append(dotted)
    return imported


def _is_package_chain(root: Path, relative: Path) -> bool:
    current = root
    for part in relative.parts[:-1]:
        current = current / part
        if not (current / "__init__.py").exists():
            return False
    return True
