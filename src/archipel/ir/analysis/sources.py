"""Module name -> its parsed source (``ast.Module``) and file, cached, failing open.

The source of a module is found the way Python finds the module
(``importlib.util.find_spec``: an imported module answers with its own spec,
so its file), read as bytes (so a BOM or a PEP 263 coding line is honoured)
and parsed once. Every way of not having source — no such module, no file
(built-in, frozen, namespace package, a module made in memory), unreadable,
does not parse — is the one answer ``None``, cached too, and a rule asking
for it skips the module: a finding is never made up from a guess.

Protean 0.18 (``protean.ir.analysis.source_provider``) answers the same way;
it also walks the domain's package on disk, which only changes the answer when
a module of that package is shadowed by another of the same name earlier on
``sys.path`` (archipel reads the one Python imported).

Trees are shared by every caller and must be treated as read-only. A provider
lives for one build (one ``IRBuilder``), so a file edited between two builds is
read again; it is not thread-safe.
"""

from __future__ import annotations

import ast
import logging
from importlib.util import find_spec
from pathlib import Path

__all__ = ["SourceProvider"]

logger = logging.getLogger("archipel.check")


class SourceProvider:
    """Locate, parse and cache the source of modules by name."""

    def __init__(self) -> None:
        self._trees: dict[str, ast.Module | None] = {}
        self._origins: dict[str, str | None] = {}

    def tree(self, module: str) -> ast.Module | None:
        """The parsed source of ``module``, or ``None`` when it has none."""
        if module not in self._trees:
            origin = _resolve(module)
            self._origins[module] = origin
            self._trees[module] = _parse(origin) if origin is not None else None
        return self._trees[module]

    def origin(self, module: str) -> str | None:
        """The file :meth:`tree` read ``module`` from (even when it did not parse), or ``None``."""
        self.tree(module)
        return self._origins[module]


def _resolve(module: str) -> str | None:
    try:
        spec = find_spec(module)
    # find_spec may import a parent package (its __init__ can raise anything), and raises
    # ValueError for a module in sys.modules without a spec: no source either way
    except Exception as exc:  # noqa: BLE001 - fail open: the rule skips the module
        logger.debug("No source for module %s: %r", module, exc)
        return None
    origin = getattr(spec, "origin", None) if spec is not None else None
    if not isinstance(origin, str) or not origin or origin in ("built-in", "frozen"):
        return None
    return origin


def _parse(path: str) -> ast.Module | None:
    try:
        return ast.parse(Path(path).read_bytes(), filename=path)
    # unreadable (OSError), not Python (SyntaxError, ValueError for a NUL byte),
    # pathological nesting (RecursionError, MemoryError): no tree
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
