"""An IR diff in EventModeling words (``archipel ir diff --format event-model``).

Rewrites :func:`archipel.ir.diff.diff_ir`'s result as slice statements: an
added command is a new slice (``+ slice PlaceOrder``), a removed projection a
removed read model, an aggregate or event that gained a field a changed slice
(``~ slice Order: event OrderPlaced field total added``). Only what the event
model draws is reported: commands, aggregates, non-fact events, read models
(projections and their projectors) and automations (event handlers, process
managers). Both snapshots are read: a whole new cluster is one diff entry, so
its commands come from the right snapshot; whether an event is drawn (not a
fact event) is judged on the side it lives on; and a consumer is added,
removed or changed according to the nodes each side's model draws for it
(:func:`archipel.ir.event_model.drawn_consumers`), which catches a consumer
that came or went because the events around it moved. A change to anything
else (entities, repositories, contracts, ``method_edges``) is no model
change: ``No model changes.``. Protean 0.18's ``generate_event_model_diff``,
line for line.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from archipel.ir.event_model import drawn_consumers, indexes
from archipel.ir.mermaid import short_name

__all__ = ["event_model_diff"]


class _Drawn(NamedTuple):
    """The event type strings each side's model draws (non-fact events with a type string)."""

    left: frozenset[str]
    right: frozenset[str]


def _drawn_types(ir: dict[str, Any]) -> frozenset[str]:
    return frozenset(event.get("__type__", "") for cluster in ir.get("clusters", {}).values()
                     for event in cluster.get("events", {}).values()
                     if not event.get("is_fact_event") and event.get("__type__", ""))


def _lifecycle(entry: Any) -> tuple[bool, bool]:
    """A handler-map entry's ``(start, end)``: a process manager's dict; a list has neither."""
    if isinstance(entry, dict):
        return bool(entry.get("start")), bool(entry.get("end"))
    return False, False


def _handlers_drawn(delta: dict[str, Any], drawn: _Drawn) -> bool:
    """Whether a handler-map delta moves a node: a route added to an event the right side draws,
    removed from one the left side draws, or a drawn route whose lifecycle flipped."""
    if any(key in drawn.right for key in delta.get("added", {})):
        return True
    if any(key in drawn.left for key in delta.get("removed", {})):
        return True
    return any((key in drawn.left or key in drawn.right) and _lifecycle(entry.get("left")) != _lifecycle(entry.get("right"))
               for key, entry in delta.get("changed", {}).items())


def _is_drawn(delta: dict[str, Any], drawn: _Drawn) -> bool:
    """Whether an element delta touches what the model reads (anything but ``method_edges``, and
    ``handlers`` only as :func:`_handlers_drawn` says)."""
    for key, value in delta.items():
        if key == "method_edges":
            continue
        if key != "handlers" or _handlers_drawn(value, drawn):
            return True
    return False


def _phrases(delta: dict[str, Any], drawn: _Drawn) -> list[str]:
    """``field x added|removed|changed`` for moved fields, else ``changed`` when drawn, else nothing."""
    fields = delta.get("fields", {})
    phrases = [f"field {name} {word}" for word in ("added", "removed", "changed") for name in sorted(fields.get(word, {}))]
    if phrases:
        return phrases
    return ["changed"] if _is_drawn(delta, drawn) else []


def _draws(events: dict[str, Any], path: str) -> bool:
    return path in events and not events[path].get("is_fact_event")


def _name(info: dict[str, Any], path: str) -> str:
    name = info.get("name")
    return name if name else short_name(path)


def _cluster_phrases(path: str, delta: dict[str, Any], left: dict[str, Any], right: dict[str, Any],
                     drawn: _Drawn) -> list[str]:
    """A changed cluster's aggregate, events and commands, as ``slice <Aggregate>: ...`` lines."""
    right_cluster = right.get(path, {})
    prefix = f"slice {right_cluster.get('aggregate', {}).get('name') or short_name(path)}: "
    found = [f"{prefix}aggregate {p}" for p in _phrases(delta.get("aggregate", {}), drawn)]
    left_events = left.get(path, {}).get("events", {})
    right_events = right_cluster.get("events", {})
    events = delta.get("events", {})
    found += [f"{prefix}event {short_name(e)} added" for e in sorted(events.get("added", {})) if _draws(right_events, e)]
    found += [f"{prefix}event {short_name(e)} removed" for e in sorted(events.get("removed", {}))
              if _draws(left_events, e)]
    for event, event_delta in sorted(events.get("changed", {}).items()):
        was, now = _draws(left_events, event), _draws(right_events, event)
        if was and now:
            found += [f"{prefix}event {short_name(event)} {p}" for p in _phrases(event_delta, drawn)]
        elif now:
            found.append(f"{prefix}event {short_name(event)} added (no longer a fact event)")
        elif was:
            found.append(f"{prefix}event {short_name(event)} removed (now a fact event)")
    found += [f"{prefix}command {short_name(command)} {p}"
              for command, command_delta in sorted(delta.get("commands", {}).get("changed", {}).items())
              for p in _phrases(command_delta, drawn)]
    return found


class _Nodes(NamedTuple):
    """Consumer path → {cluster: label} of every node a side draws."""

    read_models: dict[str, dict[str, str]]
    automations: dict[str, dict[str, str]]


def _nodes(ir: dict[str, Any]) -> _Nodes:
    index = indexes(ir)
    read_models: dict[str, dict[str, str]] = {}
    automations: dict[str, dict[str, str]] = {}
    for cluster_path, cluster in ir.get("clusters", {}).items():
        consumers = drawn_consumers(index, cluster or {})
        for path, text in consumers.read_models.items():
            read_models.setdefault(path, {})[cluster_path] = text
        for path, text in consumers.automations.items():
            automations.setdefault(path, {})[cluster_path] = text
    return _Nodes(read_models, automations)


def _automation_deltas(diff: dict[str, Any]) -> dict[str, Any]:
    deltas: dict[str, Any] = {}
    for delta in diff.get("clusters", {}).get("changed", {}).values():
        deltas.update(delta.get("event_handlers", {}).get("changed", {}))
    deltas.update(diff.get("flows", {}).get("process_managers", {}).get("changed", {}))
    return deltas


def _projector_deltas(diff: dict[str, Any]) -> dict[str, Any]:
    deltas: dict[str, Any] = {}
    for delta in diff.get("projections", {}).get("changed", {}).values():
        deltas.update(delta.get("projectors", {}).get("changed", {}))
    return deltas


def _homes(ir: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Projector path → (its projection's path, the read model's name)."""
    return {projector: (group_path, group.get("projection", {}).get("name") or short_name(group_path))
            for group_path, group in ir.get("projections", {}).items() for projector in group.get("projectors", {})}


def _projector_lines(paths: list[str], homes: dict[str, tuple[str, str]], whole: dict[str, Any],
                     suffix: str = "") -> list[str]:
    """``read model <name>: projector <Name>`` lines, leaving out the projectors of a projection
    added or removed whole (its own line says so)."""
    lines = []
    for path in paths:
        home = homes.get(path)
        if home is not None and home[0] in whole:
            continue
        lines.append(f"read model {home[1] if home else short_name(path)}: projector {short_name(path)}{suffix}")
    return lines


def _transitions(left: dict[str, dict[str, str]], right: dict[str, dict[str, str]], deltas: dict[str, Any],
                 drawn: _Drawn) -> tuple[list[str], list[str], list[str]]:
    """The consumers the model gained, lost, and redrew (other slices or labels, or a drawn delta)."""
    changed = sorted(path for path in left.keys() & right.keys()
                     if left[path] != right[path] or _is_drawn(deltas.get(path, {}), drawn))
    return sorted(right.keys() - left.keys()), sorted(left.keys() - right.keys()), changed


def _cluster_slices(clusters: dict[str, Any], side: dict[str, Any], word: str) -> list[str]:
    """``slice <Command> (<word> cluster <Aggregate>)`` per command of each cluster added or
    removed whole; ``slice <Aggregate> (<word> cluster)`` for one without commands."""
    lines = []
    for path, info in sorted(clusters.items()):
        name = _name(info, path) if word == "removed" else short_name(path)
        commands = sorted(side.get(path, {}).get("commands", {}))
        lines += [f"slice {short_name(c)} ({word} cluster {name})" for c in commands] or [f"slice {name} ({word} cluster)"]
    return lines


def event_model_diff(diff: dict[str, Any], left_ir: dict[str, Any], right_ir: dict[str, Any]) -> str:
    """The model changes of ``diff`` (``diff_ir(left_ir, right_ir)``) as text, or ``No model changes.``."""
    clusters = diff.get("clusters", {})
    projections = diff.get("projections", {})
    left_clusters = left_ir.get("clusters", {})
    right_clusters = right_ir.get("clusters", {})
    left_nodes, right_nodes = _nodes(left_ir), _nodes(right_ir)
    drawn = _Drawn(_drawn_types(left_ir), _drawn_types(right_ir))
    left_homes, right_homes = _homes(left_ir), _homes(right_ir)
    auto_added, auto_removed, auto_changed = _transitions(
        left_nodes.automations, right_nodes.automations, _automation_deltas(diff), drawn)
    proj_added, proj_removed, proj_changed = _transitions(
        left_nodes.read_models, right_nodes.read_models, _projector_deltas(diff), drawn)
    changed_clusters = sorted(clusters.get("changed", {}).items())

    added = _cluster_slices(clusters.get("added", {}), right_clusters, "new")
    added += [f"slice {short_name(c)}" for _, d in changed_clusters for c in sorted(d.get("commands", {}).get("added", {}))]
    added += [f"read model {_name(info, p)}" for p, info in sorted(projections.get("added", {}).items())]
    added += [f"automation {short_name(p)}" for p in auto_added]
    added += _projector_lines(proj_added, right_homes, projections.get("added", {}))

    removed = _cluster_slices(clusters.get("removed", {}), left_clusters, "removed")
    removed += [f"slice {short_name(c)}" for _, d in changed_clusters
                for c in sorted(d.get("commands", {}).get("removed", {}))]
    removed += [f"read model {_name(info, p)}" for p, info in sorted(projections.get("removed", {}).items())]
    removed += [f"automation {short_name(p)}" for p in auto_removed]
    removed += _projector_lines(proj_removed, left_homes, projections.get("removed", {}))

    changed: list[str] = []
    for path, delta in changed_clusters:
        changed += _cluster_phrases(path, delta, left_clusters, right_clusters, drawn)
    right_projections = right_ir.get("projections", {})
    for path, delta in sorted(projections.get("changed", {}).items()):
        name = right_projections.get(path, {}).get("projection", {}).get("name") or short_name(path)
        changed += [f"read model {name}: {p}" for p in _phrases(delta.get("projection", {}), drawn)]
    changed += _projector_lines(proj_changed, right_homes, {}, " changed")
    changed += [f"automation {short_name(p)}" for p in auto_changed]

    if not (added or removed or changed):
        return "No model changes."
    lines = ["Model changes:"]
    for header, sign, entries in (("Added", "+", added), ("Removed", "-", removed), ("Changed", "~", changed)):
        if entries:
            lines += ["", f"{header}:", *(f"  {sign} {entry}" for entry in entries)]
    return "\n".join(lines)
