"""Compare two IR documents, element by element and field by field (``archipel ir diff``).

:func:`diff_ir` returns Protean's diff document: ``clusters``,
``projections``, ``flows`` (each ``added``/``removed``/``changed`` keyed
by element path), ``contracts`` (published events, with their breaking
changes: see :mod:`archipel.ir.contract_diff`), ``diagnostics``,
``domain``, ``enrichers`` and a ``summary``. Only content is compared:
the keys of :data:`~archipel.ir.constants.VOLATILE_IR_KEYS` (format
markers, timestamp, checksum, the derived index) never count as a change,
which keeps ``ir diff`` and ``ir check`` in agreement.

:func:`~archipel.ir.compat.classify_changes` then sorts the changes to
persisted data into breaking and safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.ir.contract_diff import diff_contracts

__all__ = ["CLUSTER_SECTIONS", "diff_ir"]

#: the element sections of a cluster, compared in this order
CLUSTER_SECTIONS = (
    "entities",
    "value_objects",
    "commands",
    "events",
    "command_handlers",
    "event_handlers",
    "repositories",
    "database_models",
    "application_services",
)
_PROJECTION_SECTIONS = ("projectors", "queries", "query_handlers")
_FLOW_SECTIONS = ("domain_services", "process_managers", "subscribers")
#: element keys compared by their own rules rather than as plain attributes
_STRUCTURED = {"fields", "options", "invariants", "handlers", "apply_handlers", "method_edges", "subscription"}

Differ = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def _non_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v}


def _summary_of(entry: dict[str, Any]) -> dict[str, Any]:
    """How an added or removed entry is listed: its name, element type and path."""
    found: dict[str, Any] = {key: entry[key] for key in ("name", "element_type", "fqn") if key in entry}
    for inner, label in (("aggregate", "CLUSTER"), ("projection", "PROJECTION")):
        if isinstance(entry.get(inner), dict):
            found["name"] = entry[inner].get("name", "")
            found["element_type"] = label
    return found


def _keyed(left: dict[str, Any], right: dict[str, Any], differ: Differ | None) -> dict[str, Any]:
    """``added``/``removed``/``changed`` of two dicts keyed alike; ``differ`` describes a changed
    value (``None``: the value itself, as ``{"left", "right"}``)."""
    added = {k: (_summary_of(right[k]) if differ else right[k]) for k in sorted(right.keys() - left.keys())}
    removed = {k: (_summary_of(left[k]) if differ else left[k]) for k in sorted(left.keys() - right.keys())}
    changed: dict[str, Any] = {}
    for key in sorted(left.keys() & right.keys()):
        if differ is None:
            if left[key] != right[key]:
                changed[key] = {"left": left[key], "right": right[key]}
            continue
        delta = differ(left[key], right[key])
        if delta:
            changed[key] = delta
    return _non_empty({"added": added, "removed": removed, "changed": changed})


def flat_changes(left: dict[str, Any], right: dict[str, Any], skip: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """``{"changed": {key: {"left", "right"}}}`` of the keys whose values differ."""
    changed = {
        key: {"left": left.get(key), "right": right.get(key)}
        for key in sorted(left.keys() | right.keys())
        if key not in skip and left.get(key) != right.get(key)
    }
    return _non_empty({"changed": changed})


def _fields(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    added = {name: right[name] for name in sorted(right.keys() - left.keys())}
    removed = {name: left[name] for name in sorted(left.keys() - right.keys())}
    changed: dict[str, Any] = {}
    for name in sorted(left.keys() & right.keys()):
        delta = flat_changes(left[name], right[name]).get("changed")
        if delta:
            changed[name] = delta
    return _non_empty({"added": added, "removed": removed, "changed": changed})


def _invariants(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    for category in ("pre", "post"):
        before, after = set(left.get(category, [])), set(right.get(category, []))
        entry = _non_empty({"added": sorted(after - before), "removed": sorted(before - after)})
        if entry:
            delta[category] = entry
    return delta


def diff_element(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """The changes of one element: fields, options, invariants, handlers, apply handlers,
    method edges, and any other attribute (``attributes``)."""
    delta: dict[str, Any] = {}
    parts: tuple[tuple[str, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]], ...] = (
        ("fields", _fields),
        ("options", flat_changes),
        ("invariants", _invariants),
        ("handlers", lambda a, b: _keyed(a, b, None)),
        ("apply_handlers", flat_changes),
        ("method_edges", lambda a, b: _keyed(a, b, None)),
    )
    for key, compare in parts:
        before, after = left.get(key) or {}, right.get(key) or {}
        if before != after:
            found = compare(before, after)
            if found:
                delta[key] = found
    attributes = flat_changes(left, right, _STRUCTURED)
    if attributes:
        delta["attributes"] = attributes
    return delta


def _sections(left: dict[str, Any], right: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    for section in names:
        before, after = left.get(section) or {}, right.get(section) or {}
        if before != after:
            found = _keyed(before, after, diff_element)
            if found:
                delta[section] = found
    return delta


def _cluster(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    aggregate = diff_element(left.get("aggregate") or {}, right.get("aggregate") or {})
    if aggregate:
        delta["aggregate"] = aggregate
    delta.update(_sections(left, right, CLUSTER_SECTIONS))
    return delta


def _projection_group(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    projection = diff_element(left.get("projection") or {}, right.get("projection") or {})
    if projection:
        delta["projection"] = projection
    delta.update(_sections(left, right, _PROJECTION_SECTIONS))
    return delta


def _diagnostics(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> dict[str, Any]:
    """Diagnostics are matched by ``(code, element)``: ``added`` and ``resolved``."""

    def keyed(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(str(d.get("code", "")), str(d.get("element", ""))): d for d in items}

    before, after = keyed(left), keyed(right)
    return _non_empty({
        "added": [after[k] for k in sorted(after.keys() - before.keys())],
        "resolved": [before[k] for k in sorted(before.keys() - after.keys())],
    })


def diff_ir(left: dict[str, Any], right: dict[str, Any], *, current_version: str | None = None) -> dict[str, Any]:
    """The diff document of ``left`` (baseline) -> ``right`` (current).

    ``current_version``: the application's version, against which a deprecated element's
    ``removal`` version is compared (a removal at or past it is expected, not breaking).
    """
    result: dict[str, Any] = {
        "clusters": _keyed(left.get("clusters") or {}, right.get("clusters") or {}, _cluster),
        "projections": _keyed(left.get("projections") or {}, right.get("projections") or {}, _projection_group),
        "flows": _sections(left.get("flows") or {}, right.get("flows") or {}, _FLOW_SECTIONS),
        "contracts": diff_contracts(
            left.get("contracts") or {}, right.get("contracts") or {}, current_version=current_version
        ),
        "diagnostics": _diagnostics(left.get("diagnostics") or [], right.get("diagnostics") or []),
        "domain": flat_changes(left.get("domain") or {}, right.get("domain") or {}),
        "enrichers": flat_changes(left.get("enrichers") or {}, right.get("enrichers") or {}),
    }
    result["summary"] = _summary(result, left, right)
    return result


def _summary(result: dict[str, Any], left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    sections = [result["clusters"], result["projections"], *(result["flows"].get(s, {}) for s in _FLOW_SECTIONS)]
    counts = {kind: sum(len(s.get(kind, {})) for s in sections) for kind in ("added", "changed", "removed")}
    contracts = result["contracts"]
    has_changes = (
        any(counts.values())
        or bool(contracts.get("added"))
        or bool(contracts.get("removed"))
        or bool(result["diagnostics"])
        or bool(result["domain"].get("changed"))
        or bool(result["enrichers"].get("changed"))
    )
    return {
        "counts": counts,
        "has_breaking_changes": bool(contracts.get("breaking_changes")),
        "has_changes": has_changes,
        "left_checksum": left.get("checksum", ""),
        "right_checksum": right.get("checksum", ""),
    }
