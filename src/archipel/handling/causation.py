"""A correlation chain as a causation tree: ``domain.correlation_trace(correlation_id)``.

Each stored message of the correlation hangs under the message that caused it
(its ``causation_id``); messages whose cause is not in the chain (the original
request) are roots. The trace is the tree flattened depth-first, pre-order:
every message before its effects, siblings in stored (global) order. A cycle in
bad data is cut rather than followed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from archipel.port.event_store import CausationNode, StoredMessage

__all__ = ["causation_roots", "flatten"]


def _node(metadata: dict[str, Any]) -> CausationNode:
    time = metadata.get("time")
    return CausationNode(
        message_id=str(metadata.get("id")),
        message_type=str(metadata.get("type") or ""),
        kind=str(metadata.get("kind") or ""),
        stream=str(metadata.get("stream") or ""),
        time=None if time is None else str(time),
        global_position=metadata.get("global_position"),
    )


def causation_roots(messages: Iterable[StoredMessage]) -> list[CausationNode]:
    """The roots of the causation forest of ``messages`` (one root per original request)."""
    ordered = sorted(
        (m.get("metadata") or {} for m in messages), key=lambda meta: meta.get("global_position") or 0
    )
    nodes = {str(meta.get("id")): _node(meta) for meta in ordered}
    roots: list[CausationNode] = []
    for meta in ordered:
        node = nodes[str(meta.get("id"))]
        cause = meta.get("causation_id")
        parent = nodes.get(str(cause)) if cause is not None else None
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    return roots


def flatten(roots: list[CausationNode]) -> list[CausationNode]:
    """``roots`` and their descendants, depth-first pre-order (each node once)."""
    out: list[CausationNode] = []
    seen: set[int] = set()
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.append(node)
        stack.extend(reversed(node.children))
    return out
