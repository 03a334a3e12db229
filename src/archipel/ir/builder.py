"""Build Protean's IR (schema v0.3.0) from an initialised archipel domain.

The document groups the domain by aggregate cluster, projection and flow,
keys every element by its dotted path (``module.Qualified.Name``), and ends
with a content checksum. ``method_edges`` (``raises``/``invokes``) are derived
from the elements' source as Protean derives them (:mod:`archipel.ir.analysis`);
``diagnostics`` holds the findings of ``archipel check`` (Protean's codes, the
source rules included), and the ``[lint].rules`` of the domain get this
document, as Protean's do. What archipel leaves out, and why, is stated in the
document itself under ``x-archipel.omitted`` (see :data:`OMITTED`) and in
``docs/porting.md``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

from archipel.domain.element_schemas import fqn
from archipel.ir import SCHEMA_VERSION
from archipel.ir.analysis.coupling import coupling_findings
from archipel.ir.analysis.edges import materialize_method_edges
from archipel.ir.analysis.producers import producer_findings
from archipel.ir.analysis.view import SourceView
from archipel.ir.constants import VOLATILE_IR_KEYS
from archipel.ir.elements import EXTRACTORS, aggregate_of
from archipel.ir.fields import fields_ir
from archipel.ir.read_side import process_manager, projection, projector, query, query_handler

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["OMITTED", "PROCESS_MANAGER_OMISSION", "IRBuilder", "compute_checksum"]

#: what Protean's IR carries that archipel's does not (written into the document)
OMITTED = {
    "diagnostics": "Protean's deprecation-schedule rules (DEPRECATED_OPTION, DEPRECATED_EMAIL, DEPRECATED_CONFIG, "
    "DEPRECATED_IMPORT) and LOW_POOL_SIZE are not run; every other finding of `archipel check` is listed",
}
#: added to :data:`OMITTED` when the domain has process managers
PROCESS_MANAGER_OMISSION = (
    "archipel keeps a process manager's state per correlation value: it has no identity field (unless "
    "declared), stream category or transition event, so those keys of Protean's schema are absent"
)
#: cluster sections, in Protean's order, and the element kind placed in each
_CLUSTER_SECTIONS = {
    "application_services": "application_service",
    "command_handlers": "command_handler",
    "commands": "command",
    "database_models": "database_model",
    "entities": "entity",
    "event_handlers": "event_handler",
    "events": "event",
    "repositories": "repository",
}
#: IR element type -> archipel element kinds listed under it in ``elements``
_INDEX = {
    "AGGREGATE": ("aggregate",),
    "APPLICATION_SERVICE": ("application_service",),
    "COMMAND": ("command",),
    "COMMAND_HANDLER": ("command_handler",),
    "DATABASE_MODEL": ("database_model",),
    "DOMAIN_SERVICE": ("domain_service",),
    "ENTITY": ("entity",),
    "EVENT": ("event",),
    "EVENT_HANDLER": ("event_handler",),
    "PROCESS_MANAGER": ("process_manager",),
    "PROJECTION": ("projection",),
    "PROJECTOR": ("projector",),
    "QUERY": ("query",),
    "QUERY_HANDLER": ("query_handler",),
    "REPOSITORY": ("repository", "event_sourced_repository"),
    "SUBSCRIBER": ("subscriber",),
    "UPCASTER": ("upcaster",),
    "VALUE_OBJECT": ("value_object",),
}


def compute_checksum(ir: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the document's content: canonical JSON without the volatile keys."""
    content = {k: v for k, v in ir.items() if k not in VOLATILE_IR_KEYS}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class IRBuilder:
    """Build the IR of an initialised domain (``domain.init()`` first)."""

    def __init__(self, domain: Domain, *, router: Any = None, upcasting: Any = None) -> None:
        """``router``/``upcasting``: the domain's own unless given (``check()`` builds them)."""
        self._domain = domain
        self._router = router if router is not None else domain.router
        self._upcasting = upcasting if upcasting is not None else domain._upcasting
        self._view: SourceView | None = None

    @property
    def view(self) -> SourceView:
        """The domain's source, read on demand and shared by the edges and the source rules."""
        if self._view is None:
            self._view = SourceView(self._domain)
        return self._view

    def source_findings(self, ir: dict[str, Any]) -> list[dict[str, Any]]:
        """The findings of the rules reading the domain's source, over ``ir`` (unsuppressed)."""
        from archipel.domain.lint_config import lint_table

        table = lint_table(self._domain.config)
        return producer_findings(self.view, ir) + coupling_findings(self.view, table)

    def _of_kind(self, kind: str) -> list[type]:
        return [cls for cls in self._domain.registry.of_kind(kind).values() if not getattr(cls._meta, "abstract", False)]

    def build(self, *, diagnostics: bool = True) -> dict[str, Any]:
        """The IR document (keys sorted; ``checksum`` over its content).

        ``diagnostics=False`` leaves the ``diagnostics`` list empty (what the
        domain's ``[lint].rules`` are given).
        """
        ir: dict[str, Any] = {
            "$schema": f"https://protean.dev/ir/v{SCHEMA_VERSION}/schema.json",
            "checksum": "",
            "clusters": self._clusters(),
            "contracts": self._contracts(),
            "diagnostics": [],
            "domain": self._domain_metadata(),
            "elements": self._elements(),
            "flows": self._flows(),
            "generated_at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ir_version": SCHEMA_VERSION,
            "projections": self._projections(),
            "x-archipel": {"omitted": dict(sorted(OMITTED.items()))},
        }
        if ir["flows"]["process_managers"]:
            ir["x-archipel"]["omitted"]["process_managers"] = PROCESS_MANAGER_OMISSION
        upcasters = self._upcasters()
        if upcasters:
            ir["upcasters"] = upcasters
        enrichers = self._enrichers()
        if enrichers:
            ir["enrichers"] = enrichers
        materialize_method_edges(ir, self.view)
        if diagnostics:
            ir["diagnostics"] = self._diagnostics(ir)
        ir["checksum"] = compute_checksum(ir)
        return dict(sorted(ir.items()))

    def _diagnostics(self, ir: dict[str, Any]) -> list[dict[str, Any]]:
        """``archipel check``'s findings; the domain's ``[lint].rules`` read ``ir`` (Protean's contract)."""
        from archipel.domain.lint_config import apply_suppressions, custom_findings, lint_table
        from archipel.domain.lint_rules import run_rules

        domain = self._domain
        table = lint_table(domain.config)
        found = run_rules(domain, self._router, self._upcasting)
        found += self.source_findings(ir)
        found += custom_findings(table, ir)
        return apply_suppressions(domain, found, table)

    def _domain_metadata(self) -> dict[str, Any]:
        domain, config = self._domain, self._domain.config
        return {
            "camel_case_name": domain.camel_case_name,
            "command_processing": config.get("command_processing", "sync"),
            "event_processing": config.get("event_processing", "sync"),
            "identity_strategy": config.get("identity_strategy", "uuid"),
            "identity_type": config.get("identity_type", "string"),
            "name": domain.name,
            "normalized_name": domain.normalized_name,
        }

    def _clusters(self) -> dict[str, Any]:
        clusters: dict[str, Any] = {}
        for cls in self._of_kind("aggregate"):
            clusters[fqn(cls)] = {"aggregate": EXTRACTORS["aggregate"](cls), "value_objects": {}}
            clusters[fqn(cls)].update({section: {} for section in _CLUSTER_SECTIONS})
        for section, kind in _CLUSTER_SECTIONS.items():
            kinds = (kind, "event_sourced_repository") if kind == "repository" else (kind,)
            for each in kinds:
                for cls in self._of_kind(each):
                    owner = aggregate_of(cls)
                    if owner is not None and fqn(owner) in clusters:
                        clusters[fqn(owner)][section][fqn(cls)] = EXTRACTORS[kind](cls)
        self._place_value_objects(clusters)
        self._add_parent_references(clusters)
        return {
            key: {section: dict(sorted(value.items())) if section != "aggregate" else value
                  for section, value in sorted(cluster.items())}
            for key, cluster in sorted(clusters.items())
        }

    def _place_value_objects(self, clusters: dict[str, Any]) -> None:
        """A value object belongs to the first aggregate (or its entity) embedding it, else its ``part_of``."""
        owners: dict[type, type] = {}
        for kind in ("aggregate", "entity"):
            for cls in self._of_kind(kind):
                root = cls if kind == "aggregate" else aggregate_of(cls)
                for field_obj in getattr(cls, "_fields", {}).values():
                    target = _embedded_target(field_obj)
                    if target is not None and root is not None:
                        owners.setdefault(target, root)
        for cls in self._of_kind("value_object"):
            owner = owners.get(cls) or aggregate_of(cls)
            if owner is not None and fqn(owner) in clusters:
                entry = EXTRACTORS["value_object"](cls)
                entry["part_of"] = fqn(owner)
                clusters[fqn(owner)]["value_objects"][fqn(cls)] = dict(sorted(entry.items()))

    def _add_parent_references(self, clusters: dict[str, Any]) -> None:
        """An entity held by a ``HasMany``/``HasOne`` reaches its owner as ``<owner_snake>``
        (``comment.post``): the IR lists that link as the auto-generated reference Protean writes."""
        from archipel.fields import HasMany, HasOne, Reference  # noqa: PLC0415
        from archipel.utils.naming import snake_case  # noqa: PLC0415

        for kind in ("aggregate", "entity"):
            for owner in self._of_kind(kind):
                root = owner if kind == "aggregate" else aggregate_of(owner)
                for field_obj in getattr(owner, "_fields", {}).values():
                    child = field_obj.to_cls if isinstance(field_obj, (HasMany, HasOne)) else None
                    if not isinstance(child, type) or root is None or fqn(root) not in clusters:
                        continue
                    entry = clusters[fqn(root)]["entities"].get(fqn(child))
                    has_link = any(
                        isinstance(f, Reference) and f.to_cls is owner for f in getattr(child, "_fields", {}).values()
                    )
                    name = snake_case(owner.__name__)
                    if entry is None or has_link or name in entry["fields"]:
                        continue
                    entry["fields"][name] = {
                        "auto_generated": True,
                        "kind": "reference",
                        "linked_attribute": getattr(owner, "_id_field", None) or "id",
                        "target": fqn(owner),
                    }
                    entry["fields"] = dict(sorted(entry["fields"].items()))

    def _projections(self) -> dict[str, Any]:
        groups: dict[str, Any] = {
            fqn(cls): {"projection": projection(cls), "projectors": {}, "queries": {}, "query_handlers": {}}
            for cls in self._of_kind("projection")
        }
        for kind, section, owner_option, extract in (
            ("projector", "projectors", "projector_for", projector),
            ("query", "queries", "part_of", query),
            ("query_handler", "query_handlers", "part_of", query_handler),
        ):
            for cls in self._of_kind(kind):
                owner = getattr(cls._meta, owner_option, None)  # type: ignore[attr-defined]
                if isinstance(owner, type) and fqn(owner) in groups:
                    groups[fqn(owner)][section][fqn(cls)] = extract(cls)
        return {
            key: {section: dict(sorted(value.items())) if section != "projection" else value
                  for section, value in sorted(group.items())}
            for key, group in sorted(groups.items())
        }

    def _flows(self) -> dict[str, Any]:
        return {
            "domain_services": {fqn(c): EXTRACTORS["domain_service"](c) for c in self._sorted("domain_service")},
            "process_managers": {fqn(c): process_manager(c) for c in self._sorted("process_manager")},
            "subscribers": {fqn(c): EXTRACTORS["subscriber"](c) for c in self._sorted("subscriber")},
        }

    def _sorted(self, kind: str) -> list[type]:
        return sorted(self._of_kind(kind), key=fqn)

    def _elements(self) -> dict[str, list[str]]:
        return {
            element_type: sorted(fqn(cls) for kind in kinds for cls in self._of_kind(kind))
            for element_type, kinds in _INDEX.items()
        }

    def _contracts(self) -> dict[str, list[dict[str, Any]]]:
        published = []
        for cls in self._of_kind("event"):
            meta = cls._meta  # type: ignore[attr-defined]
            if not getattr(meta, "published", False):
                continue
            contract: dict[str, Any] = {
                "fields": fields_ir(cls),
                "fqn": fqn(cls),
                "type": meta.type_string or "",
                "version": meta.version,
            }
            deprecated = getattr(meta, "deprecated", None)
            if deprecated:
                contract["deprecated"] = dict(deprecated)
            published.append(contract)
        return {"events": sorted(published, key=lambda c: str(c["type"]))}

    def _upcasters(self) -> dict[str, list[dict[str, int]]]:
        edges: dict[str, list[dict[str, int]]] = {}
        for cls in self._of_kind("upcaster"):
            meta = cls._meta  # type: ignore[attr-defined]
            event_type = meta.get("event_type")
            name = event_type.__name__ if isinstance(event_type, type) else str(event_type).split(".")[-1]
            edges.setdefault(name, []).append(
                {"from_version": int(meta.get("from_version")), "to_version": int(meta.get("to_version"))}
            )
        return {
            name: sorted(found, key=lambda e: (e["from_version"], e["to_version"]))
            for name, found in sorted(edges.items())
        }

    def _enrichers(self) -> dict[str, list[str]]:
        kinds: dict[str, list[Any]] = {
            "aggregate": self._domain.aggregate_enrichers,
            "command": self._domain.command_enrichers,
            "event": self._domain.event_enrichers,
        }
        return {kind: [_qualname(fn) for fn in fns] for kind, fns in kinds.items() if fns}


def _embedded_target(field_obj: Any) -> type | None:
    from archipel.fields import ValueObject, ValueObjectList  # noqa: PLC0415 - local: keeps the import list short

    if isinstance(field_obj, ValueObjectList):
        content = field_obj.content_type
        to = content.to_cls if isinstance(content, ValueObject) else content
        return to if isinstance(to, type) else None
    if isinstance(field_obj, ValueObject):
        to = field_obj.to_cls
        return to if isinstance(to, type) else None
    return None


def _qualname(fn: Any) -> str:
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(qualname, str):
        return fqn(type(fn))
    return f"{getattr(fn, '__module__', None) or type(fn).__module__}.{qualname}"
