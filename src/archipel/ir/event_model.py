"""The EventModeling slice timeline (``archipel docs generate --type event-model``).

One slice per aggregate cluster, read left to right: its commands
(parallelograms) into the aggregate (a box), the aggregate to its events
(stadiums; fact events are not drawn), each event to its consumers:
projectors are read models (cylinders, labelled ``Projector → Projection``),
event handlers and process managers automations (hexagons; a process manager
labelled with its ``start``/``end`` lifecycle, the edge too). A consumer
attaches to an event when its handler map names the event's type string; its
node id carries the slice's cluster, so a consumer of two aggregates' events
is drawn in both slices. In Markdown each slice is a section led by its
structural Given-When-Then and the notes of ``.archipel/annotations.toml``
(:mod:`archipel.ir.event_model_notes`). Protean 0.18's
``protean.ir.generators.event_model``, line for line.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from archipel.ir.docs_consumers import edge, lifecycle_label, projector_label
from archipel.ir.mermaid import label, node_id, short_name

__all__ = [
    "Consumers",
    "Indexes",
    "Slice",
    "drawn_consumers",
    "indexes",
    "render_notes",
    "slice_gwt",
    "slice_targets",
    "slices",
    "timeline",
]

ReadModels = dict[str, list[tuple[str, str]]]  # type string → [(projector, label)]
Automations = dict[str, list[tuple[str, str, str]]]  # type string → [(consumer, label, edge label)]


class Indexes(NamedTuple):
    """The consumers of each event type string, built once per document."""

    read_models: ReadModels
    automations: Automations


def indexes(ir: dict[str, Any]) -> Indexes:
    """Projectors (projections sorted, then projectors) and automations (event handlers of the
    sorted clusters, then the sorted process managers) by the type strings they handle."""
    read_models: ReadModels = {}
    for _, group in sorted(ir.get("projections", {}).items()):
        for path, projector in sorted(group.get("projectors", {}).items()):
            for type_string in projector.get("handlers", {}):
                read_models.setdefault(type_string, []).append((path, projector_label(path, projector)))
    automations: Automations = {}
    for _, cluster in sorted(ir.get("clusters", {}).items()):
        for path, handler in sorted(cluster.get("event_handlers", {}).items()):
            for type_string in handler.get("handlers", {}):
                automations.setdefault(type_string, []).append((path, short_name(path), ""))
    for path, manager in sorted(ir.get("flows", {}).get("process_managers", {}).items()):
        handlers = manager.get("handlers", {})
        marks = [word for word in ("start", "end") if any(info.get(word) for info in handlers.values())]
        text = f"{short_name(path)} ({', '.join(marks)})" if marks else short_name(path)
        for type_string, info in handlers.items():
            automations.setdefault(type_string, []).append((path, text, lifecycle_label(info)))
    return Indexes(read_models, automations)


def _drawn_events(cluster: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, event) for path, event in sorted(cluster.get("events", {}).items())
            if not event.get("is_fact_event")]


def _slice(index: Indexes, path: str, cluster: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A slice's subgraph lines and edge lines."""
    scope = node_id(path)
    aggregate = f"agg_{scope}"
    nodes: list[str] = []
    edges: list[str] = []
    for command in sorted(cluster.get("commands", {})):
        nodes.append(f"        cmd_{node_id(command)}[/{label(short_name(command))}/]")
        edges.append(edge(f"cmd_{node_id(command)}", aggregate))
    nodes.append(f"        {aggregate}[{label(short_name(path))}]")
    consumers: dict[str, str] = {}
    for event_path, event in _drawn_events(cluster):
        source = f"evt_{node_id(event_path)}"
        nodes.append(f"        {source}([{label(short_name(event_path))}])")
        edges.append(edge(aggregate, source))
        type_string = event.get("__type__", "")
        for projector, text in index.read_models.get(type_string, []):
            target = f"rm_{scope}_{node_id(projector)}"
            consumers[target] = f"        {target}[({label(text)})]"
            edges.append(edge(source, target))
        for consumer, text, edge_text in index.automations.get(type_string, []):
            target = f"auto_{scope}_{node_id(consumer)}"
            consumers[target] = f"        {target}{{{{{label(text)}}}}}"
            edges.append(edge(source, target, edge_text))
    nodes += [consumers[target] for target in sorted(consumers)]
    name = label(short_name(path))
    return [f"    subgraph {scope}[{name}]", *nodes, "    end"], edges


def timeline(ir: dict[str, Any]) -> str:
    """Every slice in one ``flowchart LR`` (``--format mermaid``), subgraphs then edges."""
    clusters = ir.get("clusters", {})
    if not clusters:
        return "flowchart LR"
    index = indexes(ir)
    lines = ["flowchart LR"]
    edges: list[str] = []
    for path, cluster in sorted(clusters.items()):
        subgraph, slice_edges = _slice(index, path, cluster)
        lines += subgraph
        edges += slice_edges
    return "\n".join(lines + edges)


def slice_gwt(ir: dict[str, Any], cluster: str) -> str:
    """The slice's structural Given-When-Then blockquote: given the aggregate, when its commands,
    then its drawn events (one entry per dotted path, in path order); ``""`` for an unknown cluster."""
    body = ir.get("clusters", {}).get(cluster)
    if body is None:
        return ""
    lines = [f"> **Given** {short_name(cluster)}"]
    commands = [short_name(path) for path in sorted(body.get("commands", {}))]
    events = [short_name(path) for path, _ in _drawn_events(body)]
    lines += [f"> **{word}** {', '.join(names)}" for word, names in (("When", commands), ("Then", events)) if names]
    return "\n".join(lines)


class Consumers(NamedTuple):
    """The consumers a slice draws (dotted path → node label): projectors, automations."""

    read_models: dict[str, str]
    automations: dict[str, str]


def drawn_consumers(index: Indexes, cluster: dict[str, Any]) -> Consumers:
    """The consumers drawn in ``cluster``'s slice, with their labels."""
    read_models: dict[str, str] = {}
    automations: dict[str, str] = {}
    for event in cluster.get("events", {}).values():
        type_string = "" if event.get("is_fact_event") else event.get("__type__", "")
        if type_string:
            read_models.update(index.read_models.get(type_string, []))
            automations.update((path, text) for path, text, _ in index.automations.get(type_string, []))
    return Consumers(read_models, automations)


def slice_targets(index: Indexes, path: str, cluster: dict[str, Any]) -> set[str]:
    """The dotted paths a slice draws (its aggregate, commands, drawn events and consumers):
    what a note can be attached to."""
    found = {path}
    if cluster:
        found.update(cluster.get("commands", {}))
        found.update(event_path for event_path, _ in _drawn_events(cluster))
        consumers = drawn_consumers(index, cluster)
        found.update(consumers.read_models, consumers.automations)
    return found


def _quoted(title: str, text: str) -> list[str]:
    """``> **title:** text``, every further line of ``text`` quoted too (a blank one as ``>``)."""
    first, *more = text.split("\n")
    return [f"> **{title}:** {first}".rstrip(), *(f"> {line}".rstrip() if line.strip() else ">" for line in more)]


def _note_block(entry: dict[str, Any]) -> str:
    lines = _quoted("Note", str(entry.get("note", "")).strip())
    owner = str(entry.get("owner", "")).strip()
    if owner:
        lines += [">", *_quoted("Owner", owner)]
    return "\n".join(lines)


def render_notes(targets: set[str], notes: dict[str, dict[str, Any]]) -> str:
    """The notes keyed by ``targets``, in path order, as blockquotes (``""`` when none)."""
    return "\n\n".join(_note_block(notes[path]) for path in sorted(targets) if path in notes)


class Slice(NamedTuple):
    """One slice ready for a document: its cluster, GWT, notes (``""`` when none), bare diagram."""

    cluster: str
    gwt: str
    notes: str
    diagram: str


def slices(ir: dict[str, Any], notes: dict[str, dict[str, Any]]) -> list[Slice]:
    """Every slice in cluster order, with the notes attached to what it draws."""
    index = indexes(ir)
    found = []
    for path, cluster in sorted(ir.get("clusters", {}).items()):
        subgraph, edges = _slice(index, path, cluster)
        found.append(Slice(path, slice_gwt(ir, path), render_notes(slice_targets(index, path, cluster), notes),
                           "\n".join(["flowchart LR", *subgraph, *edges])))
    return found
