"""Which top-level IR keys are content, and the canonical baseline form.

The checksum (``ir check``) and the diff (``ir diff``) ignore exactly
:data:`VOLATILE_IR_KEYS`, so the two always agree on whether a domain
changed. A canonical baseline (``ir show --canonical``, the committed
``.archipel/ir.json``) drops only the timestamp, so it changes only when
the domain does.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["CANONICAL_EXCLUDED_KEYS", "VOLATILE_IR_KEYS", "canonical_ir", "canonical_ir_json"]

#: format markers, the timestamp, the digest itself and the derived ``elements`` index
VOLATILE_IR_KEYS = frozenset({"$schema", "ir_version", "generated_at", "checksum", "elements"})
#: what a committed baseline leaves out: the generation time only
CANONICAL_EXCLUDED_KEYS = frozenset({"generated_at"})


def canonical_ir(ir: dict[str, Any]) -> dict[str, Any]:
    """``ir`` without :data:`CANONICAL_EXCLUDED_KEYS` (a shallow copy)."""
    return {k: v for k, v in ir.items() if k not in CANONICAL_EXCLUDED_KEYS}


def canonical_ir_json(ir: dict[str, Any]) -> str:
    """The canonical baseline text: sorted keys, two-space indent, no trailing newline."""
    return json.dumps(canonical_ir(ir), indent=2, sort_keys=True)
