"""A correlation chain as a causation tree across domains, with timings.

``trace_json(watches, correlation_id)`` reads every domain's messages with
that correlation id and returns::

    {"correlation_id": ..., "count": n, "domains": [names],
     "started_at": iso, "duration_ms": float | None,
     "roots": [node, ...]}

where a node is the message's dashboard shape (:func:`event_json`) plus
``domain``, ``offset_ms`` (since the chain's first message), ``after_ms``
(since its cause, None for a root) and ``children``. A message whose cause
is not in the chain hangs from the roots; a cycle in bad data is cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archipel.observatory.collect import DomainWatch, event_json
from archipel.observatory.history import _epoch

__all__ = ["trace_json"]


def _ms(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier) * 1000, 3)


def trace_json(watches: Sequence[DomainWatch], correlation_id: str) -> dict[str, Any]:
    """The causation tree of ``correlation_id`` over every watched domain."""
    nodes: list[dict[str, Any]] = []
    for watch in watches:
        with watch.domain.domain_context():
            found = watch.domain.event_store.read_correlated(correlation_id)
        for message in found:
            node = event_json(message)
            node["domain"] = watch.name
            node["_at"] = _epoch(node.get("time"))
            nodes.append(node)
    nodes.sort(key=lambda n: (n["_at"] is None, n["_at"] or 0.0, n.get("position") or 0))
    start = next((n["_at"] for n in nodes if n["_at"] is not None), None)
    by_id = {n["id"]: n for n in nodes if n.get("id")}
    roots: list[dict[str, Any]] = []
    for node in nodes:
        node["children"] = []
    for node in nodes:
        cause = by_id.get(node.get("causation_id"))
        node["offset_ms"] = _ms(node["_at"], start)
        if cause is not None and cause is not node:
            node["after_ms"] = _ms(node["_at"], cause["_at"])
            cause["children"].append(node)
        else:
            node["after_ms"] = None
            roots.append(node)
    seen: set[int] = set()

    def clean(node: dict[str, Any]) -> dict[str, Any]:
        seen.add(id(node))
        node.pop("_at", None)
        node["children"] = [clean(c) for c in node["children"] if id(c) not in seen]
        return node

    tree = [clean(r) for r in roots]
    # only reachable through a cycle: show rather than hide
    tree += [clean(n) for n in nodes if id(n) not in seen]
    ends = [_epoch(n.get("time")) for n in nodes]
    known = [e for e in ends if e is not None]
    return {
        "correlation_id": correlation_id,
        "count": len(nodes),
        "domains": sorted({n["domain"] for n in nodes}),
        "started_at": nodes[0].get("time") if nodes else None,
        "duration_ms": _ms(max(known), min(known)) if known else None,
        "roots": tree,
    }
