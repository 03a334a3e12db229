"""Name conversions used for stream categories, tables and type strings."""

from __future__ import annotations

import re

__all__ = ["snake_case", "pascal_case"]

_BOUNDARY_1 = re.compile(r"(.)([A-Z][a-z]+)")
_BOUNDARY_2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(name: str) -> str:
    """``"InventoryItem"`` -> ``"inventory_item"``; ``"My Shop"`` -> ``"my_shop"``."""
    name = _NON_WORD.sub("_", name.strip())
    name = _BOUNDARY_1.sub(r"\1_\2", name)
    name = _BOUNDARY_2.sub(r"\1_\2", name)
    return re.sub("_+", "_", name).strip("_").lower()


def pascal_case(name: str) -> str:
    """``"my shop"`` -> ``"MyShop"``; already-Pascal names are kept."""
    parts = _NON_WORD.split(name.strip())
    if len(parts) == 1:
        return parts[0][:1].upper() + parts[0][1:]
    return "".join(p[:1].upper() + p[1:] for p in parts if p)
