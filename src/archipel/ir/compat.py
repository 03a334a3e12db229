"""Breaking or safe: the compatibility report of an IR diff (Protean's ``classify_changes``).

Only what is stored or sent is classified: aggregates, entities, value
objects, commands, events, database models and projections (handlers,
services and flows hold no data). The rules:

- an element added: safe; removed: breaking;
- a field added optional, or required with a default: safe; required
  without a default: breaking; removed: breaking (safe when deprecated and
  at/past its ``removal`` version); type changed: breaking; renamed with
  ``renamed_from``: safe; a Decimal's precision widened: safe, any other
  precision/scale change: breaking;
- ``__type__`` changed: breaking; published -> internal: breaking,
  internal -> published: safe;
- an event-sourced aggregate's replay hazards (:mod:`archipel.ir.replay`).

Two mitigations downgrade a break to safe, citing why (``mitigated_by``):
an upcaster chain reaching an event's new version from every older one,
and a removed field of an event-sourced aggregate named in ``reserved``.
Each change also says whether Avro readers survive it; the report folds
those into a verdict (``FULL``, ``BACKWARD``, ``FORWARD``, ``NONE``).
"""

from __future__ import annotations

from typing import Any

from archipel.ir.field_changes import (
    change_kind,
    classify_removal,
    decimal_delta,
    has_static_default,
    is_breaking_addition,
    removal_forward_safe,
    renames,
)
from archipel.ir.replay import apply_mitigations, classify_replay_hazards
from archipel.ir.report import CompatibilityReport

__all__ = ["breaking_change_messages", "classify_changes", "classify_element"]

#: persisted cluster sections and the element type their messages name
_PERSISTED = {
    "entities": "ENTITY",
    "value_objects": "VALUE_OBJECT",
    "commands": "COMMAND",
    "events": "EVENT",
    "database_models": "DATABASE_MODEL",
}

def _added_and_removed(section: dict[str, Any], element_type: str, report: CompatibilityReport) -> None:
    for fqn in section.get("added", {}):
        report.add(False, fqn, "element_added", f"{element_type} '{fqn}' was added")
    for fqn in section.get("removed", {}):
        report.add(True, fqn, "element_removed", f"{element_type} '{fqn}' was removed")


def _renamed_fields(found: dict[str, str], added: dict[str, Any], removed: dict[str, Any], where: str,
                    fqn: str, report: CompatibilityReport) -> None:
    for old_name, new_name in found.items():
        old, new = removed[old_name], added[new_name]
        kind = change_kind(old, new)
        prefix = f"Field '{old_name}' renamed to '{new_name}'"
        if kind == "decimal_breaking":
            report.add(True, fqn, "field_type_changed",
                       f"{prefix} with a Decimal shape change ({decimal_delta(old, new)}) in {where}",
                       field_name=old_name)
        elif kind == "type":
            report.add(True, fqn, "field_type_changed",
                       f"{prefix} with a type change from '{old.get('type')}' to '{new.get('type')}' in {where}",
                       field_name=old_name)
        else:
            report.add(False, fqn, "field_renamed", f"{prefix} in {where}", forward_safe=removal_forward_safe(old))
            if kind == "decimal_widened":
                report.add(False, fqn, "field_precision_widened",
                           f"Field '{new_name}' precision widened ({decimal_delta(old, new)}) in {where}")


def _field_changes(fields: dict[str, Any], fqn: str, element_type: str, report: CompatibilityReport,
                   current_version: str | None) -> None:
    added, removed = fields.get("added", {}), fields.get("removed", {})
    where = f"{element_type} '{fqn}'"
    found = renames(added, removed)
    _renamed_fields(found, added, removed, where, fqn, report)
    for name, field_dict in added.items():
        if name in found.values():
            continue
        if is_breaking_addition(field_dict):
            report.add(True, fqn, "required_field_added",
                       f"Required field '{name}' added to {where} without a default value", field_name=name)
        elif field_dict.get("required", False):
            report.add(False, fqn, "required_field_with_default_added",
                       f"Required field '{name}' added to {where} with a default value",
                       backward_safe=has_static_default(field_dict))
        else:
            report.add(False, fqn, "optional_field_added", f"Optional field '{name}' added to {where}")
    for name, old in removed.items():
        if name in found:
            continue
        deprecated = old.get("deprecated")
        forward = removal_forward_safe(old)
        message = f"Field '{name}' removed from {where}"
        if classify_removal(deprecated, current_version) == "expected_removal":
            report.add(False, fqn, "field_removed",
                       f"{message} (expected removal, deprecated since v{deprecated['since']})",
                       field_name=name, forward_safe=forward)
            continue
        if deprecated:
            removal = deprecated.get("removal")
            message += (f" (deprecated since v{deprecated.get('since')}, scheduled for removal in v{removal})"
                        if removal else f" (deprecated since v{deprecated.get('since')}, no removal version set)")
        report.add(True, fqn, "field_removed", message, field_name=name, forward_safe=forward)
    for name, delta in fields.get("changed", {}).items():
        left = {k: v.get("left") for k, v in delta.items()}
        right = {k: v.get("right") for k, v in delta.items()}
        kind = change_kind(left, right)
        if kind == "type":
            report.add(True, fqn, "field_type_changed",
                       f"Field '{name}' type changed from '{left['type']}' to '{right['type']}' in {where}",
                       field_name=name)
        elif kind == "decimal_widened":
            report.add(False, fqn, "field_precision_widened",
                       f"Field '{name}' precision widened ({decimal_delta(left, right)}) in {where}")
        elif kind == "decimal_breaking":
            report.add(True, fqn, "field_type_changed",
                       f"Field '{name}' Decimal shape changed ({decimal_delta(left, right)}) in {where}",
                       field_name=name)


def _attribute_changes(attributes: dict[str, Any], fqn: str, report: CompatibilityReport) -> None:
    changed = attributes.get("changed", {})
    if "__type__" in changed:
        before, after = changed["__type__"].get("left"), changed["__type__"].get("right")
        report.add(True, fqn, "type_string_changed", f"Type string changed for '{fqn}': '{before}' → '{after}'")
    if "published" in changed:
        before, after = changed["published"].get("left"), changed["published"].get("right")
        if before and not after:
            report.add(True, fqn, "visibility_public_to_internal",
                       f"'{fqn}' changed from public to internal (breaking change)")
        elif after and not before:
            report.add(False, fqn, "visibility_internal_to_public", f"'{fqn}' changed from internal to public")


def classify_element(delta: dict[str, Any], fqn: str, element_type: str, report: CompatibilityReport,
                     current_version: str | None = None) -> None:
    """Classify one changed element's field and attribute changes into ``report``."""
    _field_changes(delta.get("fields", {}), fqn, element_type, report, current_version)
    _attribute_changes(delta.get("attributes", {}), fqn, report)


def classify_changes(diff_result: dict[str, Any], left_ir: dict[str, Any], right_ir: dict[str, Any],
                     current_version: str | None = None) -> CompatibilityReport:
    """The compatibility report of ``diff_result`` (from :func:`~archipel.ir.diff.diff_ir` of the two IRs)."""
    report = CompatibilityReport()
    clusters = diff_result.get("clusters", {})
    _added_and_removed(clusters, "AGGREGATE", report)
    for cluster_fqn, cluster in clusters.get("changed", {}).items():
        if cluster.get("aggregate"):
            classify_element(cluster["aggregate"], cluster_fqn, "AGGREGATE", report, current_version)
        for section, element_type in _PERSISTED.items():
            changes = cluster.get(section) or {}
            _added_and_removed(changes, element_type, report)
            for fqn, delta in changes.get("changed", {}).items():
                classify_element(delta, fqn, element_type, report, current_version)
    projections = diff_result.get("projections", {})
    _added_and_removed(projections, "PROJECTION", report)
    for fqn, group in projections.get("changed", {}).items():
        if group.get("projection"):
            classify_element(group["projection"], fqn, "PROJECTION", report, current_version)
    classify_replay_hazards(report, left_ir, right_ir)
    apply_mitigations(report, left_ir, right_ir)
    return report


#: the report change type naming the same break as a contract entry
_CONTRACT_TO_REPORT = {
    "contract_field_type_changed": "field_type_changed",
    "contract_required_field_added": "required_field_added",
    "contract_field_removed": "field_removed",
}


def breaking_change_messages(diff_result: dict[str, Any], report: CompatibilityReport | None = None) -> list[str]:
    """Every breaking change's message, each break once: the contract entries first, then the
    report's changes that no contract entry already names (same element, field and kind)."""
    contract = diff_result.get("contracts", {}).get("breaking_changes", [])
    messages = [entry["message"] for entry in contract]
    if report is None:
        return messages
    seen = set(messages)
    named = {
        (entry.get("fqn"), entry.get("field"), _CONTRACT_TO_REPORT[entry["type"]])
        for entry in contract
        if entry.get("type") in _CONTRACT_TO_REPORT
    }
    messages += [
        c.message for c in report.breaking_changes
        if c.message not in seen and (c.element_fqn, c.field_name, c.change_type) not in named
    ]
    return messages
