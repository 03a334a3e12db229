"""Handler wiring diagrams (``archipel docs generate --type handlers``).

One diagram per kind of handler: command handlers (per cluster, a
``flowchart LR`` of commands → handler → aggregate), event handlers, process
managers (edges labelled ``start``/``end``), subscribers (labelled with their
stream) as ``flowchart TD``, and the projectors of each projection as a
``flowchart LR``. ``--format mermaid`` draws every kind in one
``flowchart TD``, subgraphs first, then the edges. Protean 0.18's
``protean.ir.generators.handlers``, line for line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.ir.docs_consumers import Consumer, edge, event_handlers, process_managers, projectors
from archipel.ir.mermaid import (
    command_paths_by_type,
    event_paths_by_type,
    label,
    node_id,
    short_name,
)

__all__ = [
    "cluster_command_handler_diagram",
    "event_handler_diagram",
    "handler_wiring_diagram",
    "process_manager_diagram",
    "projection_projector_diagram",
    "subscriber_diagram",
]

Part = tuple[list[str], list[str]]  # (subgraph lines, edge lines)


def _subgraph(group_id: str, title: str, nodes: list[str]) -> list[str]:
    return [f'    subgraph {group_id}["{title}"]', *nodes, "    end"] if nodes else []


def _command_handlers(ir: dict[str, Any], commands: dict[str, str]) -> Part:
    nodes: list[str] = []
    edges: list[str] = []
    for cluster_path, cluster in sorted(ir.get("clusters", {}).items()):
        for path, handler in sorted(cluster.get("command_handlers", {}).items()):
            target = f"ch_{node_id(path)}"
            nodes.append(f"        {target}[{label(short_name(path))}]")
            for type_string in sorted(handler.get("handlers", {})):
                command = commands.get(type_string, "")
                if command:
                    edges.append(edge(f"cmd_{node_id(command)}[/{label(short_name(command))}/]", target))
            edges.append(edge(target, f"agg_{node_id(cluster_path)}[{label(short_name(cluster_path))}]"))
    if not nodes:
        return [], []
    return _subgraph("command_handlers", "Command Handlers", nodes), edges


def _consumers(group_id: str, title: str, prefix: str, consumers: list[Consumer]) -> Part:
    nodes: list[str] = []
    edges: list[str] = []
    for consumer in consumers:
        target = prefix + node_id(consumer.path)
        nodes.append(f"        {target}[{label(consumer.label)}]")
        edges += [edge(f"evt_{node_id(evt)}([{label(short_name(evt))}])", target, text)
                  for evt, text in consumer.routes]
    return _subgraph(group_id, title, nodes), edges if nodes else []


def _event_handlers(ir: dict[str, Any]) -> Part:
    found = event_handlers(ir, event_paths_by_type(ir), sort_clusters=True)
    return _consumers("event_handlers", "Event Handlers", "eh_", found)


def _process_managers(ir: dict[str, Any]) -> Part:
    return _consumers("process_managers", "Process Managers", "pm_", process_managers(ir, event_paths_by_type(ir)))


def _projectors(ir: dict[str, Any], events: dict[str, str]) -> Part:
    return _consumers("projectors", "Projectors", "proj_", projectors(ir, events))


def _subscribers(ir: dict[str, Any]) -> Part:
    nodes = []
    for path, subscriber in sorted(ir.get("flows", {}).get("subscribers", {}).items()):
        stream = subscriber.get("stream", "")
        text = f"{short_name(path)}\\nstream: {stream}" if stream else short_name(path)
        nodes.append(f"        sub_{node_id(path)}[{label(text)}]")
    return _subgraph("subscribers", "Subscribers", nodes), []


def _chart(direction: str, part: Part) -> str:
    subgraph, edges = part
    return "\n".join([f"flowchart {direction}", *subgraph, *edges]) if subgraph else f"flowchart {direction}"


def cluster_command_handler_diagram(ir: dict[str, Any], cluster: str) -> str:
    """One cluster's command handlers (``flowchart LR`` alone when it has none)."""
    body = ir.get("clusters", {}).get(cluster)
    if not body or not body.get("command_handlers"):
        return "flowchart LR"
    return _chart("LR", _command_handlers({"clusters": {cluster: body}}, command_paths_by_type(ir)))


def event_handler_diagram(ir: dict[str, Any]) -> str:
    """The event handlers (``flowchart TD`` alone when none)."""
    return _chart("TD", _event_handlers(ir))


def process_manager_diagram(ir: dict[str, Any]) -> str:
    """The process managers (``flowchart TD`` alone when none)."""
    return _chart("TD", _process_managers(ir))


def subscriber_diagram(ir: dict[str, Any]) -> str:
    """The subscribers with their streams (``flowchart TD`` alone when none)."""
    return _chart("TD", _subscribers(ir))


def projection_projector_diagram(ir: dict[str, Any], projection: str) -> str:
    """The projectors of one projection (``flowchart LR`` alone when it has none)."""
    group = ir.get("projections", {}).get(projection)
    if not group or not group.get("projectors"):
        return "flowchart LR"
    return _chart("LR", _projectors({"projections": {projection: group}}, event_paths_by_type(ir)))


def handler_wiring_diagram(ir: dict[str, Any]) -> str:
    """Every kind in one ``flowchart TD`` (``--format mermaid``)."""
    if not ir.get("clusters") and not ir.get("flows") and not ir.get("projections"):
        return "flowchart TD"
    events = event_paths_by_type(ir)
    parts: list[Callable[[], Part]] = [
        lambda: _command_handlers(ir, command_paths_by_type(ir)),
        lambda: _event_handlers(ir),
        lambda: _process_managers(ir),
        lambda: _projectors(ir, events),
        lambda: _subscribers(ir),
    ]
    lines = ["flowchart TD"]
    edges: list[str] = []
    for part in parts:
        subgraph, part_edges = part()
        lines += subgraph
        edges += part_edges
    return "\n".join(lines + edges)
