"""The ``method_edges`` of an IR document, by where they sit: shared by the oracle tests."""

from __future__ import annotations

from typing import Any


def method_edges(node: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every ``method_edges`` value in ``node``, keyed by the path of keys leading to it."""
    found: dict[tuple[str, ...], Any] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "method_edges":
                found[path] = value
            else:
                found.update(method_edges(value, (*path, key)))
    return found
