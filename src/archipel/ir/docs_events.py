"""Event flow diagrams (``archipel docs generate --type events``).

Per cluster, a ``flowchart TD``: commands (parallelograms) into their command
handlers, the handlers into the aggregate, the aggregate to the events it
raises (stadiums; fact events left out). Then a ``flowchart LR`` of the
downstream consumers: event handlers, process managers (edges labelled
``start``/``end``) and projectors, each kind a subgraph, fed by the events
their handler maps name. ``--format mermaid`` draws all of it as one
``flowchart LR``. Protean 0.18's ``protean.ir.generators.events``, line for line.
"""

from __future__ import annotations

from typing import Any

from archipel.ir.docs_consumers import Consumer, edge, event_handlers, process_managers, projectors
from archipel.ir.mermaid import (
    command_paths_by_type,
    event_paths_by_type,
    label,
    node_id,
    short_name,
)

__all__ = ["cluster_event_flow", "downstream_consumers", "event_flow_diagram"]


def _evt(path: str) -> str:
    return f"evt_{node_id(path)}"


def _drawn_events(cluster: dict[str, Any]) -> list[str]:
    return [path for path, event in sorted(cluster.get("events", {}).items()) if not event.get("is_fact_event")]


def _subgraph(path: str, cluster: dict[str, Any]) -> list[str]:
    name = label(short_name(path))
    lines = [f"    subgraph {node_id(path)}[{name}]", f"        agg_{node_id(path)}[{name}]"]
    lines += [f"        cmd_{node_id(cmd)}[/{label(short_name(cmd))}/]" for cmd in sorted(cluster.get("commands", {}))]
    lines += [f"        {_evt(evt)}([{label(short_name(evt))}])" for evt in _drawn_events(cluster)]
    lines += [f"        hdlr_{node_id(h)}[{label(short_name(h))}]" for h in sorted(cluster.get("command_handlers", {}))]
    return [*lines, "    end"]


def _edges(path: str, cluster: dict[str, Any], commands: dict[str, str]) -> list[str]:
    aggregate = f"agg_{node_id(path)}"
    lines = []
    for handler_path, handler in sorted(cluster.get("command_handlers", {}).items()):
        handler_id = f"hdlr_{node_id(handler_path)}"
        lines += [edge(f"cmd_{node_id(commands[t])}", handler_id)
                  for t in sorted(handler.get("handlers", {})) if commands.get(t, "")]
        lines.append(edge(handler_id, aggregate))
    return lines + [edge(aggregate, _evt(evt)) for evt in _drawn_events(cluster)]


def cluster_event_flow(ir: dict[str, Any], cluster: str) -> str:
    """One cluster's ``flowchart TD`` (``flowchart TD`` alone when it is unknown or empty)."""
    body = ir.get("clusters", {}).get(cluster)
    if not body:
        return "flowchart TD"
    return "\n".join(["flowchart TD", *_subgraph(cluster, body), *_edges(cluster, body, command_paths_by_type(ir))])


def _kinds(ir: dict[str, Any], events: dict[str, str]) -> list[tuple[str, str, str, list[Consumer]]]:
    """``(node id prefix, subgraph id, subgraph title, consumers)`` of each consumer kind."""
    return [("eh_", "event_handlers", "Event Handlers", event_handlers(ir, events, sort_clusters=False)),
            ("pm_", "process_managers", "Process Managers", process_managers(ir, events)),
            ("proj_", "projectors", "Projectors", projectors(ir, events))]


def downstream_consumers(ir: dict[str, Any]) -> str:
    """The ``flowchart LR`` of events into their consumers (``flowchart LR`` alone when none)."""
    events = event_paths_by_type(ir)
    subgraphs: list[str] = []
    edges: list[str] = []
    fed: set[str] = set()
    for prefix, group_id, title, consumers in _kinds(ir, events):
        if not consumers:
            continue
        subgraphs.append(f'    subgraph {group_id}["{title}"]')
        for consumer in consumers:
            target = prefix + node_id(consumer.path)
            subgraphs.append(f"        {target}[{label(consumer.label)}]")
            edges += [edge(_evt(evt), target, text) for evt, text in consumer.routes]
            fed.update(evt for evt, _ in consumer.routes)
        subgraphs.append("    end")
    if not subgraphs:
        return "flowchart LR"
    declared = [f"    {_evt(evt)}([{label(short_name(evt))}])" for evt in sorted(fed)]
    return "\n".join(["flowchart LR", *declared, *subgraphs, *edges])


def event_flow_diagram(ir: dict[str, Any]) -> str:
    """Everything in one ``flowchart LR`` (``--format mermaid``): ``flowchart LR`` alone without clusters."""
    clusters = ir.get("clusters", {})
    if not clusters:
        return "flowchart LR"
    commands = command_paths_by_type(ir)
    lines = ["flowchart LR"]
    for path, body in sorted(clusters.items()):
        lines += _subgraph(path, body)
    for path, body in sorted(clusters.items()):
        lines += _edges(path, body, commands)
    for prefix, _, _, consumers in _kinds(ir, event_paths_by_type(ir)):
        for consumer in consumers:
            target = prefix + node_id(consumer.path)
            lines.append(f"    {target}[{label(consumer.label)}]")
            lines += [edge(_evt(evt), target, text) for evt, text in consumer.routes]
    return "\n".join(lines)
