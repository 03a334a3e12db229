"""``archipel check``'s rules on what methods produce: events raised, projection fields
written, fields filtered on (Protean 0.18's, over the same IR, with its codes and messages).

- ``UNRAISED_EVENT`` (info): an event of a cluster that no method of the cluster's
  aggregate or entities raises (a method raises the events it constructs when it
  also calls ``raise_``). Fact events and generated events are exempt; a cluster
  none of whose classes has readable source is skipped.
- ``UNSOURCED_PROJECTION_FIELD`` (info): a projection field no projector method
  writes, by constructing the projection with it as a keyword or by assigning an
  attribute of its name (not on a handler's parameters, nor on a helper's
  ``self``). Skipped for a projection filled externally, one constructed with
  ``**kwargs`` or a positional template, and one with no observed write at all;
  the identity field is exempt.
- ``UNINDEXED_FILTER_PATH`` (warning): a scalar field of an aggregate that a
  repository query (``filter``/``get``/``find``/``find_by``/``exclude`` with
  named fields) filters on and that no index covers (the identity, a ``unique``
  field, or the first column of an ``Index``). The query's aggregate is the
  receiver's when it resolves to a repository or an aggregate, or the
  repository's own for a ``self``-rooted query inside one; any other receiver
  (a local variable) is skipped. ``age__gte`` filters ``age``.
"""

from __future__ import annotations

from typing import Any

from archipel.domain.element_schemas import fqn
from archipel.domain.lint_catalog import diagnostic
from archipel.ir.analysis.facts import RAISE_METHOD, AttributeFact, ReceiverRole
from archipel.ir.analysis.view import SourceView

__all__ = ["producer_findings"]

Found = list[dict[str, Any]]
FILTER_METHODS = frozenset({"filter", "get", "find", "find_by", "exclude"})
#: field kinds with no column of their own name, so an index on the name cannot serve them
NON_SCALAR_KINDS = frozenset({"value_object", "value_object_list", "has_one", "has_many", "reference"})


def producer_findings(view: SourceView, ir: dict[str, Any]) -> Found:
    """The findings of the three rules on ``ir`` (``view``: the same domain's source)."""
    found: Found = []
    by_path = {fqn(cls): cls for _kind, cls in view.domain.registry.all()}
    _unsourced_projection_fields(view, ir, by_path, found)
    _unindexed_filter_paths(view, ir, by_path, found)
    _unraised_events(view, ir, by_path, found)
    return found


def _abstract(cls: type | None) -> bool:
    return bool(getattr(getattr(cls, "_meta", None), "abstract", False))


def _unraised_events(view: SourceView, ir: dict[str, Any], by_path: dict[str, type], found: Found) -> None:
    for _key, cluster in sorted(ir["clusters"].items()):
        if _abstract(by_path.get(cluster["aggregate"]["fqn"])):
            continue
        paths = [cluster["aggregate"]["fqn"], *cluster["entities"]]
        analysed = [by_path[p] for p in paths if p in by_path and view.class_entry(by_path[p]) is not None]
        if not analysed:
            continue
        raised: set[str] = set()
        for cls in analysed:
            for facts in view.element_facts(cls).values():
                if any(call.method == RAISE_METHOD for call in facts.calls):
                    raised.update(c.path for c in facts.constructions)
        for _path, event in sorted(cluster["events"].items()):
            if event.get("is_fact_event") or event.get("auto_generated") or event["fqn"] in raised:
                continue
            found.append(diagnostic("UNRAISED_EVENT", element=event["fqn"],
                                    message=f"Event {event['name']} is raised by no aggregate or entity method"))


def _unsourced_projection_fields(view: SourceView, ir: dict[str, Any], by_path: dict[str, type],
                                 found: Found) -> None:
    for group in ir["projections"].values():
        projection = group["projection"]
        if projection.get("options", {}).get("externally_populated"):
            continue
        fields = projection.get("fields", {})
        written: set[str] = set()
        dynamic = False
        for path, projector in group["projectors"].items():
            cls = by_path.get(path)
            entry = view.class_entry(cls) if cls is not None else None
            if entry is None:
                continue
            handler_names = {name for names in projector.get("handlers", {}).values() for name in names}
            for method in entry.methods:
                facts = view.method_facts(entry.module, method.node)
                for construction in facts.constructions:
                    if construction.path == projection["fqn"]:
                        dynamic = dynamic or construction.dynamic_kwargs or construction.positional_template
                        written.update(construction.field_names)
                writes = [a for a in facts.attributes if a.is_write and not a.is_delete and a.name in fields]
                if writes:
                    writes = _record_writes(writes, method.node, method.decorators, method.name in handler_names)
                written.update(a.name for a in writes)
        if dynamic or not written:
            continue
        exempt = projection.get("identity_field")
        for name in fields:
            if name in written or name == exempt:
                continue
            found.append(diagnostic(
                "UNSOURCED_PROJECTION_FIELD", element=projection["fqn"], field=name,
                message=f"Field `{name}` on projection `{projection['name']}` is filled by no projector "
                "write, so it renders as a dead column.",
            ))


def _record_writes(writes: list[AttributeFact], node: Any, decorators: tuple[str, ...],
                   is_handler: bool) -> list[AttributeFact]:
    """The writes that may land on the record: a handler's parameters are the projector and
    the message, never the record; a helper's first parameter is the projector."""
    args = node.args
    if is_handler:
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        params += [a for a in (args.vararg, args.kwarg) if a is not None]
        excluded = {a.arg for a in params}
    else:
        positional = args.posonlyargs or args.args
        excluded = {positional[0].arg} if positional and "staticmethod" not in decorators else set()
    return [a for a in writes if a.receiver not in excluded]


def _covered(aggregate: dict[str, Any]) -> set[str]:
    covered = {aggregate["identity_field"]}
    covered.update(name for name, spec in aggregate.get("fields", {}).items() if spec.get("unique"))
    for index in aggregate.get("indexes", []):
        columns = index.get("fields")
        if columns:
            covered.add(columns[0])
    return covered


def _unindexed_filter_paths(view: SourceView, ir: dict[str, Any], by_path: dict[str, type],
                            found: Found) -> None:
    clusters = ir["clusters"]
    repo_to_aggregate = {repo: agg for agg, cluster in clusters.items() for repo in cluster["repositories"]}
    covered: dict[str, set[str]] = {}
    for element, cls in sorted(by_path.items()):
        for method_name, facts in view.element_facts(cls).items():
            for call in facts.calls:
                if call.role is not ReceiverRole.REPOSITORY_QUERY or call.method not in FILTER_METHODS \
                        or not call.field_names:
                    continue
                if call.receiver is None:
                    target = repo_to_aggregate.get(element)
                elif call.receiver in repo_to_aggregate:
                    target = repo_to_aggregate[call.receiver]
                else:
                    target = call.receiver if call.receiver in clusters else None
                if target is None or _abstract(by_path.get(target)):
                    continue
                aggregate = clusters[target]["aggregate"]
                fields = aggregate.get("fields", {})
                if target not in covered:
                    covered[target] = _covered(aggregate)
                seen: set[str] = set()
                for raw in call.field_names:
                    name = raw.split("__", 1)[0]
                    if name in seen:
                        continue
                    seen.add(name)
                    spec = fields.get(name)
                    if spec is None or spec.get("kind") in NON_SCALAR_KINDS or name in covered[target]:
                        continue
                    where = f"{element}.{method_name}, line {call.line}"
                    found.append(diagnostic(
                        "UNINDEXED_FILTER_PATH", element=aggregate["fqn"], field=name,
                        message=f"Field `{name}` on aggregate `{aggregate['name']}` is filtered by `{where}` "
                        "but no declared index covers it, so the query scans the whole table.",
                        suggestion=f'Index("{name}")  # add to `{aggregate["name"]}` indexes',
                    ))
