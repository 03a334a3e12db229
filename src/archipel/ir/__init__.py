"""Protean's domain IR (Intermediate Representation): the topology of a domain as JSON.

``archipel ir show`` writes it, ``archipel ir diff`` compares two of them
(breaking or compatible), ``archipel ir check`` tells whether the committed
``.archipel/ir.json`` still matches the code. The document follows Protean
0.18's IR JSON Schema v0.3.0, vendored in ``schema/v0.3.0/schema.json``
(Apache-2.0, from Protean), so a Protean tool reads archipel's IR and back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "CompatConfig",
    "CompatibilityChange",
    "CompatibilityReport",
    "GitError",
    "IRBuilder",
    "StalenessResult",
    "StalenessStatus",
    "check_staleness",
    "classify_changes",
    "diff_ir",
    "load_config",
    "load_ir_from_commit",
    "load_schema",
]

#: Protean's names at ``protean.ir``, imported on first use (the builder imports the
#: domain layer; ``import archipel.ir`` stays light): name -> its module
_LAZY = {
    "CompatConfig": "archipel.ir.config",
    "load_config": "archipel.ir.config",
    "CompatibilityChange": "archipel.ir.report",
    "CompatibilityReport": "archipel.ir.report",
    "GitError": "archipel.ir.git",
    "load_ir_from_commit": "archipel.ir.git",
    "IRBuilder": "archipel.ir.builder",
    "StalenessResult": "archipel.ir.staleness",
    "StalenessStatus": "archipel.ir.staleness",
    "check_staleness": "archipel.ir.staleness",
    "classify_changes": "archipel.ir.compat",
    "diff_ir": "archipel.ir.diff",
}

#: the version of the IR format this archipel writes (Protean 0.18's)
SCHEMA_VERSION = "0.3.0"
SCHEMA_PATH = Path(__file__).parent / "schema" / f"v{SCHEMA_VERSION}" / "schema.json"


def load_schema() -> dict[str, Any]:
    """The IR's JSON Schema (Draft 2020-12) as a dict."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def __getattr__(name: str) -> Any:
    """Protean's ``protean.ir`` names (see ``_LAZY``), from the module that holds each."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
