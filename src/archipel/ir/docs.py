"""The architecture documentation of an IR document (``archipel docs generate``).

:func:`render` assembles what one ``--type`` draws, in ``markdown`` (each
diagram fenced under a ``##`` title, split per cluster, per kind of handler,
per projection) or ``mermaid`` (the raw diagrams: one combined diagram per
type). ``all`` is clusters, events, handlers and the catalog, joined by a
blank line; ``event-model`` and ``llms`` are separate views. Protean 0.18's
``protean docs generate``, for the same IR the same text.
"""

from __future__ import annotations

from typing import Any

from archipel.ir.docs_catalog import markdown_catalog
from archipel.ir.docs_clusters import cluster_diagram
from archipel.ir.docs_events import cluster_event_flow, downstream_consumers, event_flow_diagram
from archipel.ir.docs_handlers import (
    cluster_command_handler_diagram,
    event_handler_diagram,
    handler_wiring_diagram,
    process_manager_diagram,
    projection_projector_diagram,
    subscriber_diagram,
)
from archipel.ir.event_model import slices, timeline
from archipel.ir.event_model_notes import render_unmatched, unmatched
from archipel.ir.mermaid import fence, short_name

__all__ = ["FORMATS", "IR_TYPES", "render"]

#: the types :func:`render` draws from an IR document (``llms`` and ``agents`` are the CLI's)
IR_TYPES = ("clusters", "events", "handlers", "catalog", "event-model", "all")
FORMATS = ("markdown", "mermaid")


def _clusters(ir: dict[str, Any], mermaid: bool, cluster: str) -> str:
    if cluster:
        raw = cluster_diagram(ir, cluster=cluster)
        return raw if mermaid else fence(raw, title="Aggregate Cluster")
    if mermaid:
        return cluster_diagram(ir)
    clusters = ir.get("clusters", {})
    if not clusters:
        return fence(cluster_diagram(ir), title="Aggregate Clusters")
    return "\n\n".join(fence(cluster_diagram(ir, cluster=path), title=f"Cluster: {short_name(path)}")
                       for path in sorted(clusters))


def _events(ir: dict[str, Any], mermaid: bool) -> str:
    if mermaid:
        return event_flow_diagram(ir)
    parts = []
    for path in sorted(ir.get("clusters", {})):
        raw = cluster_event_flow(ir, path)
        if raw != "flowchart TD":
            parts.append(fence(raw, title=f"Event Flow: {short_name(path)}"))
    downstream = downstream_consumers(ir)
    if downstream != "flowchart LR":
        parts.append(fence(downstream, title="Downstream Consumers"))
    return "\n\n".join(parts) or fence("flowchart LR", title="Event Flows")


def _handlers(ir: dict[str, Any], mermaid: bool) -> str:
    if mermaid:
        return handler_wiring_diagram(ir)
    parts = []
    for path in sorted(ir.get("clusters", {})):
        raw = cluster_command_handler_diagram(ir, path)
        if raw != "flowchart LR":
            parts.append(fence(raw, title=f"Command Handlers: {short_name(path)}"))
    for title, diagram in (("Event Handlers", event_handler_diagram), ("Process Managers", process_manager_diagram),
                           ("Subscribers", subscriber_diagram)):
        raw = diagram(ir)
        if raw != "flowchart TD":
            parts.append(fence(raw, title=title))
    for path in sorted(ir.get("projections", {})):
        raw = projection_projector_diagram(ir, path)
        if raw != "flowchart LR":
            parts.append(fence(raw, title=f"Projector: {short_name(path)}"))
    return "\n\n".join(parts) or fence("flowchart TD", title="Handler Wiring")


def _event_model(ir: dict[str, Any], mermaid: bool, notes: dict[str, dict[str, Any]]) -> str:
    report = render_unmatched(unmatched(ir, notes))
    if mermaid:
        body = timeline(ir)
    else:
        sections = []
        for part in slices(ir, notes):
            block = [f"## Event Model: {short_name(part.cluster)}", part.gwt, *([part.notes] if part.notes else [])]
            sections.append("\n\n".join([*block, fence(part.diagram)]))
        body = "\n\n".join(sections) or fence("flowchart LR", title="Event Model")
    return f"{body}\n\n{report}" if report else body


def render(ir: dict[str, Any], doc_type: str, fmt: str = "markdown", *, cluster: str = "",
           notes: dict[str, dict[str, Any]] | None = None) -> str:
    """What ``--type doc_type --format fmt`` prints for ``ir`` (``cluster``: one cluster's
    diagram, for ``clusters`` and ``all``; ``notes``: the event model's annotations).

    ``doc_type`` is one of :data:`IR_TYPES`, ``fmt`` one of :data:`FORMATS`
    (``catalog`` is Markdown whatever ``fmt`` says); another value is a
    ``ValueError`` naming it and the allowed ones.
    """
    if doc_type not in IR_TYPES:
        raise ValueError(f"invalid --type: {doc_type!r}. Choose from: {', '.join(IR_TYPES)}")
    if fmt not in FORMATS:
        raise ValueError(f"invalid --format: {fmt!r}. Choose from: {', '.join(FORMATS)}")
    mermaid = fmt == "mermaid"
    every = doc_type == "all"
    sections = []
    if every or doc_type == "clusters":
        sections.append(_clusters(ir, mermaid, cluster))
    if every or doc_type == "events":
        sections.append(_events(ir, mermaid))
    if every or doc_type == "handlers":
        sections.append(_handlers(ir, mermaid))
    if every or doc_type == "catalog":
        sections.append(markdown_catalog(ir))
    if doc_type == "event-model":
        sections.append(_event_model(ir, mermaid, notes or {}))
    return "\n\n".join(sections)
