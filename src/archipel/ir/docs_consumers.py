"""The consumers of events an IR document declares, as the documentation diagrams draw them.

Event handlers (in their clusters), process managers (``flows``) and projectors
(``projections``), each with the label its node carries and its routes: the
events (by dotted path) its handler map names by type string, in type-string
order, each with the label of its edge (a process manager's ``start``/``end``).
A type string no cluster's event carries routes nowhere. The iteration orders
are Protean 0.18's (see each function), since they order the diagram's lines.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from archipel.ir.mermaid import label, short_name

__all__ = ["Consumer", "edge", "event_handlers", "lifecycle_label", "process_managers", "projector_label",
           "projectors"]


class Consumer(NamedTuple):
    """One consumer node: its dotted path, its label and its ``(event path, edge label)`` routes."""

    path: str
    label: str
    routes: list[tuple[str, str]]


def edge(source: str, target: str, text: str = "") -> str:
    """A flowchart edge line, labelled when ``text`` is not empty."""
    return f"    {source} -->|{label(text)}| {target}" if text else f"    {source} --> {target}"


def lifecycle_label(info: Any) -> str:
    """``start``, ``end``, ``start, end`` or ``""``: a process manager's handler entry."""
    return ", ".join(word for word in ("start", "end") if info.get(word))


def _routes(handlers: dict[str, Any], events: dict[str, str], lifecycle: bool) -> list[tuple[str, str]]:
    return [(events[type_string], lifecycle_label(handlers[type_string]) if lifecycle else "")
            for type_string in sorted(handlers) if events.get(type_string, "")]


def event_handlers(ir: dict[str, Any], events: dict[str, str], *, sort_clusters: bool) -> list[Consumer]:
    """The event handlers, cluster by cluster (in the document's order, or sorted), sorted within."""
    clusters = ir.get("clusters", {})
    bodies = [clusters[path] for path in sorted(clusters)] if sort_clusters else list(clusters.values())
    return [Consumer(path, short_name(path), _routes(handler.get("handlers", {}), events, False))
            for cluster in bodies for path, handler in sorted(cluster.get("event_handlers", {}).items())]


def process_managers(ir: dict[str, Any], events: dict[str, str]) -> list[Consumer]:
    """The process managers, sorted; a label says ``(start, end)`` when one of its handlers starts
    (ends) it."""
    found = []
    for path, manager in sorted(ir.get("flows", {}).get("process_managers", {}).items()):
        handlers = manager.get("handlers", {})
        marks = [word for word in ("start", "end") if any(info.get(word) for _, info in sorted(handlers.items()))]
        text = f"{short_name(path)} ({', '.join(marks)})" if marks else short_name(path)
        found.append(Consumer(path, text, _routes(handlers, events, True)))
    return found


def projector_label(path: str, projector: dict[str, Any]) -> str:
    """``Projector → Projection`` (the projection it is ``projector_for``), or its own name."""
    target = short_name(projector.get("projector_for", ""))
    return f"{short_name(path)} \u2192 {target}" if target else short_name(path)


def projectors(ir: dict[str, Any], events: dict[str, str]) -> list[Consumer]:
    """The projectors, projection by projection in the document's order, sorted within."""
    return [Consumer(path, projector_label(path, projector), _routes(projector.get("handlers", {}), events, False))
            for group in ir.get("projections", {}).values()
            for path, projector in sorted(group.get("projectors", {}).items())]
