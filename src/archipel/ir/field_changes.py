"""How one field changed, and whether old payloads survive it: the rules shared by the
published-contract check (:mod:`archipel.ir.contract_diff`) and the compatibility report
(:mod:`archipel.ir.compat`), so the two agree on every field."""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import Any

__all__ = [
    "change_kind",
    "classify_removal",
    "decimal_delta",
    "has_static_default",
    "is_breaking_addition",
    "removal_forward_safe",
    "renames",
]


def renames(added: dict[str, Any], removed: Collection[str]) -> dict[str, str]:
    """``{old name: new name}``: an added field whose ``renamed_from`` names a removed one.

    Each removed name is claimed once. The alias reads old payloads, so a rename is not a
    removal plus an addition.
    """
    found: dict[str, str] = {}
    for new_name, field in added.items():
        for old_name in field.get("renamed_from") or []:
            if old_name in removed and old_name not in found:
                found[old_name] = new_name
    return found


def _decimal_shape(left: dict[str, Any], right: dict[str, Any]) -> str | None:
    """``None`` (same precision and scale), ``"widened"`` (every old value still fits:
    precision raised or dropped, scale kept) or ``"breaking"``."""
    before, after = left.get("precision"), right.get("precision")
    if before == after and left.get("scale") == right.get("scale"):
        return None
    if left.get("scale") != right.get("scale") or before is None:
        return "breaking"
    return "widened" if after is None or after > before else "breaking"


def change_kind(left: dict[str, Any], right: dict[str, Any]) -> str | None:
    """``"type"``, ``"decimal_breaking"``, ``"decimal_widened"`` or ``None`` (compatible).

    Takes whole field dicts or a delta holding only the keys that differ (a key missing
    from both compares equal)."""
    if left.get("type") != right.get("type"):
        return "type"
    shape = _decimal_shape(left, right)
    if shape is None:
        return None
    return "decimal_widened" if shape == "widened" else "decimal_breaking"


def decimal_delta(left: dict[str, Any], right: dict[str, Any]) -> str:
    """``precision from 10 to 19, scale from unset to 2``."""

    def shown(value: Any) -> str:
        return "unset" if value is None else str(value)

    return ", ".join(
        f"{key} from {shown(left.get(key))} to {shown(right.get(key))}"
        for key in ("precision", "scale")
        if left.get(key) != right.get(key)
    )


def is_breaking_addition(field: dict[str, Any]) -> bool:
    """A new field breaks old payloads when it is required and has no default."""
    return bool(field.get("required", False)) and "default" not in field


def has_static_default(field: dict[str, Any]) -> bool:
    """Whether the field's default can be written into a schema (a callable one cannot).

    Protean also refuses a Decimal default its Avro decimal type cannot hold; archipel
    writes no Avro, so that refinement is not made here.
    """
    return "default" in field and field["default"] != "<callable>"


def removal_forward_safe(old_field: dict[str, Any]) -> bool:
    """An old reader decodes new data lacking ``old_field`` only if it was optional or defaulted
    (an identifier counts as required)."""
    required = old_field.get("required") or old_field.get("identifier")
    return not required or has_static_default(old_field)


def _version(text: str) -> tuple[int | str, ...]:
    parts: list[int | str] = []
    for segment in text.strip().split("."):
        try:
            parts.append(int(segment))
        except ValueError:
            parts.append(segment)
    return tuple(parts)


def classify_removal(deprecated: dict[str, Any] | None, current_version: str | None = None) -> str:
    """``"expected_removal"`` (deprecated, and ``current_version`` is at or past its ``removal``),
    ``"premature_removal"`` (deprecated otherwise) or ``"unexpected_removal"`` (never deprecated)."""
    if deprecated is None:
        return "unexpected_removal"
    removal = deprecated.get("removal")
    if removal is None or current_version is None:
        return "premature_removal"
    with contextlib.suppress(TypeError):  # "1.0" against "1.x" cannot be ordered
        if _version(str(current_version)) >= _version(str(removal)):
            return "expected_removal"
    return "premature_removal"
