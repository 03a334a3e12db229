"""The published-event contract part of an IR diff (``contracts`` in the diff document).

Published events are the bounded context's promise to other systems, so
their breaks are listed on their own (``breaking_changes``), with the
deprecation grace: an event or field removed at or past the ``removal``
version its deprecation named is an ``expected_removals`` entry, not a
break. A declared rename (``renamed_from``) is a ``renamed_fields`` entry.
"""

from __future__ import annotations

from typing import Any

from archipel.ir.field_changes import (
    change_kind,
    classify_removal,
    decimal_delta,
    is_breaking_addition,
    renames,
)

__all__ = ["diff_contracts"]


def _removed_event(event: dict[str, Any], current_version: str | None) -> tuple[str, dict[str, Any]]:
    """``("breaking"|"expected", entry)`` for a published event that is gone."""
    label = event.get("type") or event["fqn"]
    deprecated = event.get("deprecated")
    classification = classify_removal(deprecated, current_version)
    entry: dict[str, Any] = {
        "type": "contract_event_removed",
        "classification": classification,
        "event": label,
        "fqn": event["fqn"],
        "message": f"Published event '{label}' was removed",
    }
    if deprecated:
        entry["deprecated"] = deprecated
    if classification == "expected_removal" and deprecated:
        entry["message"] += (
            f" (deprecated since v{deprecated.get('since')}, removal expected in v{deprecated.get('removal', '?')})"
        )
        return "expected", entry
    if deprecated:
        entry["message"] += f" (deprecated since v{deprecated.get('since')}"
        if deprecated.get("removal"):
            entry["message"] += f", scheduled for removal in v{deprecated['removal']}"
        entry["message"] += "; removed prematurely)"
    return "breaking", entry


def _type_change(event_fqn: str, field: str, old: dict[str, Any], new: dict[str, Any], message: str,
                 renamed_to: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": "contract_field_type_changed",
        "fqn": event_fqn,
        "field": field,
        "left": old.get("type"),
        "right": new.get("type"),
        "message": message,
    }
    if renamed_to is not None:
        entry["renamed_to"] = renamed_to
    return entry


def _event_changes(event_fqn: str, left: dict[str, Any], right: dict[str, Any], current_version: str | None,
                   out: dict[str, list[dict[str, Any]]]) -> None:
    """Append the changes of one published event present on both sides to ``out``'s lists."""
    label = left.get("type", "")
    if label != right.get("type", ""):
        out["breaking"].append({
            "type": "contract_type_changed", "fqn": event_fqn, "left": label, "right": right.get("type", ""),
            "message": f"type changed for published event: '{label}' → '{right.get('type', '')}'",
        })
    before, after = left.get("fields") or {}, right.get("fields") or {}
    removed = set(before) - set(after)
    added = {name: after[name] for name in sorted(after.keys() - before.keys())}
    renamed = renames(added, removed)
    for old_name, new_name in renamed.items():
        old, new = before[old_name], after[new_name]
        kind = change_kind(old, new)
        prefix = f"Field '{old_name}' renamed to '{new_name}'"
        if kind == "type":
            out["breaking"].append(_type_change(event_fqn, old_name, old, new, (
                f"{prefix} with a type change from '{old.get('type')}' to '{new.get('type')}' "
                f"in published event '{label}'"), new_name))
        elif kind == "decimal_breaking":
            out["breaking"].append(_type_change(event_fqn, old_name, old, new, (
                f"{prefix} with a Decimal shape change ({decimal_delta(old, new)}) in published event '{label}'"),
                new_name))
        else:
            out["renamed"].append({
                "type": "contract_field_renamed", "fqn": event_fqn, "field": old_name, "renamed_to": new_name,
                "message": f"{prefix} in published event '{label}'",
            })
    for name in sorted(before.keys() & after.keys()):
        old, new = before[name], after[name]
        kind = change_kind(old, new)
        if kind == "type":
            message = (f"Field '{name}' type changed from '{old.get('type')}' to '{new.get('type')}' in "
                       f"published event '{label}'")
        elif kind == "decimal_breaking":
            message = f"Field '{name}' Decimal shape changed ({decimal_delta(old, new)}) in published event '{label}'"
        else:
            continue
        out["breaking"].append(_type_change(event_fqn, name, old, new, message))
    new_names = set(renamed.values())
    for name, field in added.items():
        if name not in new_names and is_breaking_addition(field):
            out["breaking"].append({
                "type": "contract_required_field_added", "fqn": event_fqn, "field": name,
                "message": f"Required field '{name}' added to published event '{label}' without a default value",
            })
    for name in sorted(removed - set(renamed)):
        deprecated = before[name].get("deprecated")
        classification = classify_removal(deprecated, current_version)
        entry: dict[str, Any] = {
            "type": "contract_field_removed", "classification": classification, "fqn": event_fqn, "field": name,
            "message": f"Field '{name}' removed from published event '{label}'",
        }
        if deprecated:
            entry["deprecated"] = deprecated
        if classification == "expected_removal":
            entry["message"] += " (expected removal)"
            out["expected"].append(entry)
        else:
            out["breaking"].append(entry)


def diff_contracts(left: dict[str, Any], right: dict[str, Any], *,
                   current_version: str | None = None) -> dict[str, Any]:
    """``added``/``removed`` published events, ``breaking_changes``, ``expected_removals`` and
    ``renamed_fields`` (each only when non-empty)."""
    before = {e["fqn"]: e for e in left.get("events") or []}
    after = {e["fqn"]: e for e in right.get("events") or []}
    out: dict[str, list[dict[str, Any]]] = {"breaking": [], "expected": [], "renamed": []}
    removed = [before[f] for f in sorted(before.keys() - after.keys())]
    for event in removed:
        which, entry = _removed_event(event, current_version)
        out[which].append(entry)
    for event_fqn in sorted(before.keys() & after.keys()):
        _event_changes(event_fqn, before[event_fqn], after[event_fqn], current_version, out)
    result = {
        "added": [after[f] for f in sorted(after.keys() - before.keys())],
        "removed": removed,
        "breaking_changes": out["breaking"],
        "expected_removals": out["expected"],
        "renamed_fields": out["renamed"],
    }
    return {k: v for k, v in result.items() if v}
