"""The ``method_edges`` of the IR, derived from method bodies as Protean 0.18 derives them.

- ``raises`` (aggregates and entities): a method that calls ``raise_`` (whatever
  the receiver: ``user.raise_(...)`` in a factory counts) raises every
  registered event it constructs, sorted — the events are matched by
  co-location in the method, not by argument, which can over-report;
- ``invokes`` (command and event handlers, in their cluster; process managers
  and projectors, in the clusters owning the messages they handle): a call
  whose trailing name is the name of exactly one method written in an element
  of that scope (the aggregate and its entities) invokes it; a name two of them
  define is skipped, never guessed.

Written only where non-empty (``{"method": {"raises": [...]}}`` /
``{"method": {"invokes": [{"element", "method"}]}}``, keys and lists sorted);
an element without readable source gets none.
"""

from __future__ import annotations

from typing import Any

from archipel.domain.element_schemas import fqn
from archipel.ir.analysis.classes import MethodEntry
from archipel.ir.analysis.facts import RAISE_METHOD, MethodFacts
from archipel.ir.analysis.view import SourceView

__all__ = ["materialize_method_edges"]

Surface = dict[str, list[tuple[str, str]]]


def materialize_method_edges(ir: dict[str, Any], view: SourceView) -> None:
    """Write ``method_edges`` onto the entries of ``ir``'s clusters, flows and projections."""
    by_path: dict[str, type] = {}
    events: set[str] = set()
    for kind, cls in view.domain.registry.all():
        by_path.setdefault(fqn(cls), cls)
        if kind == "event":
            events.add(fqn(cls))
    clusters = ir["clusters"]
    owners: dict[str, set[str]] = {}
    for aggregate, cluster in clusters.items():
        for section in ("commands", "events"):
            for entry in cluster[section].values():
                if entry.get("__type__"):
                    owners.setdefault(entry["__type__"], set()).add(aggregate)
    surfaces: dict[str, Surface] = {}

    def surface(aggregate: str) -> Surface:
        if aggregate not in surfaces:
            found: Surface = {}
            for path in (aggregate, *clusters[aggregate]["entities"]):
                for method in _methods(view, by_path.get(path)):
                    found.setdefault(method.name, []).append((path, method.name))
            surfaces[aggregate] = found
        return surfaces[aggregate]

    def union(aggregates: set[str]) -> Surface:
        merged: Surface = {}
        for aggregate in sorted(aggregates):
            for name, pairs in surface(aggregate).items():
                merged.setdefault(name, []).extend(pairs)
        return merged

    for aggregate, cluster in clusters.items():
        for path, entry in ((aggregate, cluster["aggregate"]), *cluster["entities"].items()):
            edges: dict[str, Any] = _raise_edges(view, by_path.get(path), events)
            if edges:
                entry["method_edges"] = edges
        for section in ("command_handlers", "event_handlers"):
            for path, entry in cluster[section].items():
                edges = _invoke_edges(view, by_path.get(path), surface(aggregate))
                if edges:
                    entry["method_edges"] = edges
    handlers = [*ir["flows"]["process_managers"].items()]
    for group in ir["projections"].values():
        handlers.extend(group["projectors"].items())
    for path, entry in handlers:
        scope: set[str] = set()
        for handled in entry.get("handlers", {}):
            scope |= owners.get(handled, set())
        if scope:
            edges = _invoke_edges(view, by_path.get(path), union(scope))
            if edges:
                entry["method_edges"] = edges


def _methods(view: SourceView, cls: type | None) -> tuple[MethodEntry, ...]:
    return view.methods(cls) if cls is not None else ()


def _facts(view: SourceView, cls: type | None) -> dict[str, MethodFacts]:
    return view.element_facts(cls) if cls is not None else {}


def _raise_edges(view: SourceView, cls: type | None, events: set[str]) -> dict[str, Any]:
    edges: dict[str, Any] = {}
    for name, facts in _facts(view, cls).items():
        if not any(call.method == RAISE_METHOD for call in facts.calls):
            continue
        raised = sorted({c.path for c in facts.constructions if c.path in events})
        if raised:
            edges[name] = {"raises": raised}
    return dict(sorted(edges.items()))


def _invoke_edges(view: SourceView, cls: type | None, surface: Surface) -> dict[str, Any]:
    edges: dict[str, Any] = {}
    for name, facts in _facts(view, cls).items():
        targets: set[tuple[str, str]] = set()
        for call in facts.calls:
            matches = surface.get(call.method) if call.method is not None else None
            if matches and len(matches) == 1:
                targets.add(matches[0])
        if targets:
            edges[name] = {"invokes": [{"element": e, "method": m} for e, m in sorted(targets)]}
    return dict(sorted(edges.items()))
