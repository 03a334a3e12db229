"""The rules behind ``Domain.check()``'s diagnostics, read from the registry and the router.

Protean 0.18 runs these over its IR; archipel reads the same facts from the
live model (``part_of`` clusters, handler marks, fields, options), with
Protean's codes, elements (``module.QualName``), messages and levels. The
rules that read the domain's source code (``UNRAISED_EVENT``,
``UNSOURCED_PROJECTION_FIELD``, ``UNINDEXED_FILTER_PATH``,
``HANDLER_PERSISTS_AND_CALLS_OUT``, ``INFRA_IMPORT_IN_DOMAIN``,
``ADAPTER_CALL_IN_DOMAIN``) run over the IR document, in
:mod:`archipel.ir.analysis`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from archipel.core.handler import ANY, handler_specs
from archipel.domain.element_schemas import fqn
from archipel.domain.lint_catalog import diagnostic
from archipel.domain.lint_smells import design_smells
from archipel.fields.association import Reference
from archipel.fields.containers import Dict, List
from archipel.fields.embedded import ValueObject
from archipel.fields.text import String, Text
from archipel.handling.decoding import split_type
from archipel.utils.reflection import declared_fields

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.domain.router import Router

__all__ = ["run_rules"]

Found = list[dict[str, Any]]


class _Model:
    """The domain's elements grouped as Protean's IR groups them (clusters by aggregate)."""

    def __init__(self, domain: Domain, router: Router) -> None:
        self.domain = domain
        self.router = router
        registry = domain.registry
        self.of = registry.of_kind
        self.aggregates = list(registry.of_kind("aggregate").values())
        self.fact_events = {
            cls._meta.extra.get("fact_event_cls") for cls in self.aggregates
        } - {None}
        self.events = [e for e in registry.of_kind("event").values() if e not in self.fact_events]

    def root(self, cls: Any) -> Any:
        """The aggregate an element belongs to (following ``part_of`` through entities)."""
        seen: set[Any] = set()
        while cls is not None and cls not in seen:
            seen.add(cls)
            meta = getattr(cls, "_meta", None)
            if meta is None:
                return None
            if meta.kind == "aggregate":
                return cls
            part_of = meta.part_of
            if isinstance(part_of, str):
                part_of = self.domain.registry.elements["aggregate"].get(part_of) or \
                    self.domain.registry.elements["entity"].get(part_of)
            cls = part_of
        return None

    def members(self, kind: str, aggregate: Any) -> list[Any]:
        return [cls for cls in self.of(kind).values() if self.root(cls) is aggregate]

    def handled(self, handler_cls: Any) -> list[str]:
        """The type strings a handler class handles, each once, in declaration order."""
        found: dict[str, None] = {}
        for spec in handler_specs(handler_cls):
            target = spec.target
            if target == ANY:
                found[ANY] = None
            elif isinstance(target, str):
                found[target] = None
            else:
                found[self.router.type_of(target, handler_cls)] = None
        return list(found)

    def owner_of_type(self, kind: str) -> dict[str, Any]:
        """type string -> the aggregate owning the message, or None when two own it."""
        owners: dict[str, Any] = {}
        for cls in self.of(kind).values():
            type_string, aggregate = cls._meta.type_string, self.root(cls)
            if type_string and aggregate is not None:
                owners[type_string] = None if type_string in owners else aggregate
        return owners

    def event_sourced(self, aggregate: Any) -> bool:
        return bool(aggregate._meta.get("is_event_sourced"))


def _completeness(m: _Model, found: Found) -> None:
    router, domain = m.router, m.domain
    for command in m.of("command").values():
        if command not in router.commands and not command._meta.abstract:
            found.append(diagnostic("UNUSED_COMMAND", element=fqn(command),
                                    message=f"Command {command.__name__} has no registered handler"))
    targets = {route.target_cls for route in router.routes}
    catch_all = {route.category for route in router.routes if route.spec.target == ANY}
    for event in m.events:
        meta = event._meta
        if event in targets or meta.published or meta.abstract or event in domain.registry.external_events:
            continue
        category = getattr(getattr(m.root(event), "_meta", None), "stream_category", None)
        if category is not None and category in catch_all:
            continue
        found.append(diagnostic("UNHANDLED_EVENT", element=fqn(event),
                                message=f"Event {event.__name__} has no registered handler"))
    for aggregate in m.aggregates:
        if not m.event_sourced(aggregate):
            continue
        appliers = getattr(aggregate, "_appliers", {})
        for event in m.members("event", aggregate):
            if event not in m.fact_events and event not in appliers:
                found.append(diagnostic(
                    "ES_EVENT_MISSING_APPLY", element=fqn(event),
                    message=f"Event {event.__name__} has no @apply handler on aggregate {aggregate.__name__}",
                ))
    integration = domain.config.get("integration") or {}
    if any(event._meta.published for event in m.events) and not integration.get("broker"):
        found.append(diagnostic(
            "PUBLISHED_NO_EXTERNAL_BROKER", element=domain.name,
            message="Domain has published events but no integration broker configured "
            "([integration] broker). Published events will only be dispatched internally.",
        ))
    handled_by = {m.root(h) for h in m.of("command_handler").values()}
    for aggregate in m.aggregates:
        if aggregate not in handled_by:
            found.append(diagnostic(
                "AGGREGATE_WITHOUT_COMMAND_HANDLER", element=fqn(aggregate),
                message=f"Aggregate `{aggregate.__name__}` has no command handler, so no write path exists",
            ))


def _projections(m: _Model, found: Found) -> None:
    projectors = list(m.of("projector").values())
    registered = {e._meta.type_string for e in m.of("event").values()} | set(
        m.domain.registry.external_events.values())
    for projection in m.of("projection").values():
        if projection._meta.get("externally_populated"):
            pass
        elif not any(p._meta.get("projector_for") is projection for p in projectors):
            found.append(diagnostic(
                "PROJECTION_WITHOUT_PROJECTOR", element=fqn(projection),
                message=f"Projection `{projection.__name__}` has no projector to populate it",
            ))
        serves = [h for h in m.of("query_handler").values() if h._meta.part_of is projection]
        queries = [q for q in m.of("query").values() if q._meta.part_of is projection]
        if serves and not queries:
            found.append(diagnostic(
                "QUERY_HANDLER_WITHOUT_QUERY", element=fqn(projection),
                message=f"Projection `{projection.__name__}` has a query handler but no query to serve",
            ))
    for projector in projectors:
        for type_string in m.handled(projector):
            if type_string != ANY and type_string not in registered:
                found.append(diagnostic(
                    "PROJECTOR_HANDLES_ORPHANED_EVENT", element=fqn(projector),
                    message=f"Projector `{projector.__name__}` handles event `{type_string}` "
                    "which the domain does not register",
                ))


def _boundaries(m: _Model, found: Found) -> None:
    commands = m.owner_of_type("command")
    for handler in m.of("command_handler").values():
        own = m.root(handler)
        for type_string in m.handled(handler):
            owner = commands.get(type_string)
            if owner is not None and own is not None and owner is not own:
                found.append(diagnostic(
                    "COMMAND_HANDLER_CROSS_CLUSTER", element=fqn(handler),
                    message=f"Command handler `{handler.__name__}` in cluster `{fqn(own)}` handles "
                    f"command `{type_string}` owned by cluster `{fqn(owner)}`",
                ))
    events = m.owner_of_type("event")
    for handler in m.of("event_handler").values():
        own = m.root(handler)
        if own is None:
            continue
        for type_string in m.handled(handler):
            owner = events.get(type_string)
            if owner is None or owner is own:
                continue
            event_name = split_type(type_string)[0].rsplit(".", 1)[-1]
            found.append(diagnostic(
                "EVENT_HANDLER_FOREIGN_EVENT", element=fqn(handler),
                message=f"{handler.__name__} (part_of {own.__name__}) handles event {event_name}, "
                f"owned by cluster {owner.__name__}. Cross-cluster event handling couples two "
                "aggregates; consider a ProcessManager to mediate the interaction if the events "
                "have causal dependencies.",
            ))


def _references(m: _Model) -> Iterator[tuple[Any, Any, str, Any]]:
    """(aggregate, element, field name, referenced aggregate) of every cross-cluster Reference."""
    for aggregate in m.aggregates:
        if aggregate._meta.abstract:
            continue
        for element in (aggregate, *m.members("entity", aggregate)):
            for name, field_obj in declared_fields(element).items():
                if not isinstance(field_obj, Reference):
                    continue
                try:
                    target = m.root(field_obj.to_cls)
                except Exception:  # noqa: BLE001 - an unresolved reference is init()'s error
                    continue
                if target is not None and target is not aggregate:
                    yield aggregate, element, name, target


def _aggregate_design(m: _Model, found: Found) -> None:
    edges: dict[Any, set[Any]] = {}
    for aggregate, element, name, target in _references(m):
        edges.setdefault(aggregate, set()).add(target)
        found.append(diagnostic(
            "CROSS_AGGREGATE_REFERENCE", element=fqn(element), field=name,
            message=f"Reference `{name}` points at a different aggregate's root `{fqn(target)}`; "
            "aggregates should reference each other by identity, not by `Reference`.",
        ))
    for component in _cycles(edges):
        group = ", ".join(f"`{fqn(a)}`" for a in component)
        for aggregate in component:
            found.append(diagnostic(
                "CIRCULAR_CLUSTER_DEPENDENCY", element=fqn(aggregate),
                message=f"Cluster `{fqn(aggregate)}` participates in a circular dependency among "
                f"clusters: {group}",
            ))
    for aggregate in m.aggregates:
        if aggregate._meta.abstract:
            continue
        if m.event_sourced(aggregate) and not [
            e for e in m.members("event", aggregate) if e not in m.fact_events
        ]:
            found.append(diagnostic(
                "ES_AGGREGATE_NO_EVENTS", element=fqn(aggregate),
                message=f"Event-sourced aggregate `{aggregate.__name__}` has no events; it records "
                "no state changes and cannot be rebuilt from its stream.",
            ))
        owned = {aggregate, *m.members("entity", aggregate)}
        value_objects = set(m.members("value_object", aggregate))
        for element in owned:
            for field_obj in declared_fields(element).values():
                if isinstance(field_obj, ValueObject):
                    try:
                        value_objects.add(field_obj.to_cls)
                    except Exception:  # noqa: BLE001 - unresolved: init()'s error
                        pass
        for vo in sorted(value_objects, key=fqn):
            for name, field_obj in declared_fields(vo).items():
                kind = "list" if isinstance(field_obj, List) else "dict" if isinstance(field_obj, Dict) else None
                if kind is not None:
                    found.append(diagnostic(
                        "VALUE_OBJECT_MUTABLE_FIELD", element=fqn(vo), field=name,
                        message=f"Value object `{vo.__name__}` has mutable field `{name}` (`{kind}`); "
                        "value objects must be immutable.",
                    ))
        fields = declared_fields(aggregate)
        for index in aggregate._meta.get("indexes") or ():
            for name in dict.fromkeys(getattr(index, "fields", ())):
                indexed = fields.get(name)
                type_name = "Text" if isinstance(indexed, Text) else "String"
                if not isinstance(indexed, String) or (
                    type_name == "String" and indexed.max_length is not None
                ):
                    continue
                found.append(diagnostic(
                    "UNBOUNDED_INDEXED_STRING", element=fqn(aggregate), field=name,
                    message=f"Field `{name}` on aggregate `{aggregate.__name__}` is included in index "
                    f"`{index.name or '(unnamed)'}` but is an unbounded string (`{type_name}`). SQL "
                    "Server rejects indexes on unbounded strings, MySQL requires an explicit prefix "
                    "length, and PostgreSQL builds the index with storage and performance overhead.",
                    suggestion=f"{name} = String(max_length=255)  # size to the field's domain",
                ))


def _cycles(edges: dict[Any, set[Any]]) -> list[list[Any]]:
    """The strongly connected groups (two or more aggregates) of the reference graph, sorted."""
    def reach(start: Any) -> set[Any]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {node: reach(node) for node in edges}
    groups: dict[frozenset[Any], None] = {}
    for node, seen in reachable.items():
        group = frozenset({node} | {o for o in seen if node in reachable.get(o, ())})
        if len(group) >= 2:
            groups[group] = None
    return sorted((sorted(g, key=fqn) for g in groups), key=lambda g: [fqn(a) for a in g])


def run_rules(domain: Domain, router: Router, upcasting: Any) -> Found:
    """Every rule's findings, unsorted and unsuppressed."""
    m = _Model(domain, router)
    found: Found = []
    _completeness(m, found)
    _projections(m, found)
    _boundaries(m, found)
    _aggregate_design(m, found)
    _upcaster_gaps(m, upcasting, found)
    design_smells(m, found)
    return found


def _upcaster_gaps(m: _Model, upcasting: Any, found: Found) -> None:
    steps = getattr(upcasting, "steps", {}) if upcasting is not None else {}
    for event in m.events:
        meta = event._meta
        if meta.abstract or not meta.type_string or meta.version <= 1:
            continue
        edges = {start: to for start, (to, _cls) in steps.get(split_type(meta.type_string)[0], {}).items()}
        missing = []
        for version in range(1, meta.version):
            current, seen = version, set()
            while current in edges and current not in seen:
                seen.add(current)
                current = edges[current]
            if current != meta.version:
                missing.append(version)
        if missing:
            versions = ", ".join(f"v{v}" for v in missing)
            found.append(diagnostic(
                "UPCASTER_GAP", element=fqn(event),
                message=f"Event `{event.__name__}` is at version {meta.version}; stored payloads at "
                f"{versions}, if any exist, have no upcaster path to v{meta.version} and would fail "
                "to deserialize. Add upcasters covering the missing versions.",
            ))

