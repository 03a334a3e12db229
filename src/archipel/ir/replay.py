"""Event-sourced aggregates in the compatibility report: replay hazards and mitigations.

An event-sourced aggregate is rebuilt by reading its stream and applying
each event. What stops that rebuild is never a field change, so it is
read from both IRs rather than from the diff:

- event sourcing turned on or off (the state lives in the other store);
- the stream category moved (the history stays under the old name);
- the identity field moved (streams are named by the old field's value);
- an ``@apply`` handler dropped while its event survives (replay fails
  on the first stored event of that type);
- a name dropped from ``reserved`` (replay stops ignoring it).

Then two mitigations move a break to the safe list, citing why: an
upcaster chain that reaches an event's new version from every older one
(for the changes an upcaster can make: a field removed or retyped, a
required field added, the type string's version bumped), and a field
removed from an event-sourced aggregate that names it in ``reserved``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from archipel.ir.report import CompatibilityChange, CompatibilityReport

__all__ = ["apply_mitigations", "classify_replay_hazards", "missing_source_versions"]

_VERSION_SUFFIX = re.compile(r"\.v\d+$")
_UPCASTABLE = frozenset({"field_removed", "field_type_changed", "required_field_added", "type_string_changed"})


def _events(ir: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for cluster in (ir.get("clusters") or {}).values():
        found.update(cluster.get("events") or {})
    return found


def _aggregates(left_ir: dict[str, Any], right_ir: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(path, left aggregate, right aggregate)`` of every aggregate on both sides."""
    left = left_ir.get("clusters") or {}
    return [
        (fqn, (left[fqn].get("aggregate") or {}), (cluster.get("aggregate") or {}))
        for fqn, cluster in (right_ir.get("clusters") or {}).items()
        if fqn in left
    ]


def _event_sourced(aggregate: dict[str, Any]) -> bool:
    return bool((aggregate.get("options") or {}).get("is_event_sourced"))


def classify_replay_hazards(report: CompatibilityReport, left_ir: dict[str, Any], right_ir: dict[str, Any]) -> None:
    """Add a breaking change for each replay hazard of an aggregate present on both sides."""
    removed_events = set(_events(left_ir)) - set(_events(right_ir))
    for fqn, left, right in _aggregates(left_ir, right_ir):
        before_es, after_es = _event_sourced(left), _event_sourced(right)
        if not (before_es or after_es):
            continue
        label = f"AGGREGATE '{fqn}'"
        if before_es != after_es:
            direction = "classic to event-sourced" if after_es else "event-sourced to classic"
            report.add(True, fqn, "event_sourcing_changed",
                       f"{label} changed from {direction}; existing state cannot be read the new way")
            continue
        before, after = left.get("options") or {}, right.get("options") or {}
        if before.get("stream_category") != after.get("stream_category"):
            report.add(True, fqn, "stream_category_changed",
                       f"Stream category changed for {label}: '{before.get('stream_category')}' → "
                       f"'{after.get('stream_category')}'; existing events stay under the old category")
        if left.get("identity_field") != right.get("identity_field"):
            report.add(True, fqn, "identity_field_changed",
                       f"Identity field changed for {label}: '{left.get('identity_field')}' → "
                       f"'{right.get('identity_field')}'; existing events are keyed by the old field's value")
        kept = right.get("apply_handlers") or {}
        for event_fqn in left.get("apply_handlers") or {}:
            if event_fqn not in kept and event_fqn not in removed_events:
                report.add(True, fqn, "apply_handler_removed",
                           f"{label} dropped its @apply handler for '{event_fqn}'; stored events of that type "
                           "stop the rebuild")
        for name in sorted(set(before.get("reserved") or ()) - set(after.get("reserved") or ())):
            report.add(True, fqn, "reservation_removed",
                       f"{label} no longer reserves '{name}'; replay stops dropping an assignment to that name "
                       "or a call to its add_/remove_ helper, which a retained @apply handler for a retired "
                       "event can still make", field_name=name)


def missing_source_versions(edges: list[tuple[int, int]], target: int) -> list[int]:
    """The versions below ``target`` whose chain of upcaster ``edges`` (followed to its end) does
    not end at ``target``: their stored payloads cannot be read as the current version."""
    step = dict(edges)
    missing = []
    for version in range(1, target):
        current, seen = version, set()
        while current in step and current not in seen:
            seen.add(current)
            current = step[current]
        if current != target:
            missing.append(version)
    return missing


def _upcaster_citations(left_ir: dict[str, Any], right_ir: dict[str, Any]) -> dict[str, str]:
    upcasters = right_ir.get("upcasters") or {}
    before = _events(left_ir)
    cited: dict[str, str] = {}
    for fqn, event in _events(right_ir).items():
        old = before.get(fqn)
        if old is None:
            continue
        old_v, new_v = old.get("__version__"), event.get("__version__")
        if not isinstance(old_v, int) or not isinstance(new_v, int) or new_v <= old_v:
            continue
        edges = [(e["from_version"], e["to_version"]) for e in upcasters.get(event.get("name", ""), [])]
        if missing_source_versions(edges, new_v):
            continue  # a stored older version would be stranded
        base = (_VERSION_SUFFIX.sub("", str(old.get("__type__") or "")),
                _VERSION_SUFFIX.sub("", str(event.get("__type__") or "")))
        if base[0] != base[1]:
            continue  # the chain is found by the type string's base: moved, it reaches nothing
        cited[fqn] = f"upcaster {event.get('name', '')} v{old_v}->v{new_v}"
    return cited


def _reserved(left_ir: dict[str, Any], right_ir: dict[str, Any]) -> dict[str, set[str]]:
    return {
        fqn: set((right.get("options") or {}).get("reserved") or ())
        for fqn, left, right in _aggregates(left_ir, right_ir)
        if _event_sourced(left) and _event_sourced(right) and (right.get("options") or {}).get("reserved")
    }


def apply_mitigations(report: CompatibilityReport, left_ir: dict[str, Any], right_ir: dict[str, Any]) -> None:
    """Move the breaks an upcaster chain, then a ``reserved`` declaration, covers to the safe list."""
    if not report.breaking_changes:
        return
    cited = _upcaster_citations(left_ir, right_ir)
    _downgrade(report, lambda c: cited.get(c.element_fqn) if c.change_type in _UPCASTABLE else None)
    reserved = _reserved(left_ir, right_ir)
    _downgrade(report, lambda c: "reserved" if c.change_type == "field_removed"
               and c.field_name in reserved.get(c.element_fqn, ()) else None)


def _downgrade(report: CompatibilityReport, citation_of: Callable[[CompatibilityChange], str | None]) -> None:
    still: list[CompatibilityChange] = []
    for change in report.breaking_changes:
        citation = citation_of(change)
        if citation is None:
            still.append(change)
            continue
        change.severity, change.mitigated_by = "safe", citation
        report.safe_changes.append(change)
    report.breaking_changes = still
