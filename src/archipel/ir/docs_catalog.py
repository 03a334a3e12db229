"""The Markdown event and command catalog (``archipel docs generate --type catalog``).

Per cluster (``## Order (`app.Order`)``), its events (type string, version,
published, fact event) and its commands (type string, version), each with a
table of its fields: type, required, constraints. Then the published event
contracts. Protean 0.18's ``generate_catalog``, line for line.

(``archipel events catalog`` is the other catalog: one row per event with its
evolution — deprecation, upcasters, consumers —, from :mod:`archipel.ir.catalog`.)
"""

from __future__ import annotations

from typing import Any

from archipel.ir.mermaid import field_type_label, short_name

__all__ = ["markdown_catalog"]

_NONE = "\u2014"  # an em dash: no value
_BOUNDS = ("max_length", "min_length", "max_value", "min_value")


def _constraints(field: dict[str, Any]) -> str:
    parts = ["identifier"] if field.get("identifier") else ["unique"] if field.get("unique") else []
    parts += [f"{key}={field[key]}" for key in _BOUNDS if field.get(key) is not None]
    if field.get("choices"):
        parts.append(f"choices={field['choices']}")
    return ", ".join(parts) or _NONE


def _field_table(fields: dict[str, dict[str, Any]]) -> list[str]:
    if not fields:
        return ["_No fields._", ""]
    rows = [f"| {name} | {field_type_label(field)} | {'Yes' if field.get('required') else 'No'} | "
            f"{_constraints(field)} |" for name, field in sorted(fields.items())]
    return ["| Field | Type | Required | Constraints |", "|-------|------|----------|-------------|", *rows, ""]


def _message(path: str, message: dict[str, Any], flags: list[tuple[str, str]]) -> list[str]:
    head = [f"#### {short_name(path)}", "", f"- **Type**: `{message.get('__type__', _NONE)}`",
            f"- **Version**: {message.get('__version__', _NONE)}"]
    head += [f"- **{title}**: {'Yes' if message.get(key) else 'No'}" for title, key in flags]
    return [*head, "", *_field_table(message.get("fields", {}))]


def _cluster(path: str, cluster: dict[str, Any]) -> list[str]:
    lines = [f"## {short_name(path)} (`{path}`)", ""]
    events = cluster.get("events", {})
    if events:
        lines += ["### Events", ""]
        for event_path, event in sorted(events.items()):
            lines += _message(event_path, event, [("Published", "published"), ("Fact Event", "is_fact_event")])
    commands = cluster.get("commands", {})
    if commands:
        lines += ["### Commands", ""]
        for command_path, command in sorted(commands.items()):
            lines += _message(command_path, command, [])
    return lines


def _contracts(ir: dict[str, Any]) -> list[str]:
    contracts = ir.get("contracts", {}).get("events", [])
    if not contracts:
        return []
    rows = [f"| {short_name(c.get('fqn', ''))} | `{c.get('type', _NONE)}` | {c.get('version', _NONE)} |"
            for c in sorted(contracts, key=lambda c: c.get("fqn", ""))]
    return ["---", "", "## Published Event Contracts", "", "| Event | Type | Version |", "|-------|------|---------|",
            *rows, ""]


def markdown_catalog(ir: dict[str, Any]) -> str:
    """The catalog of ``ir``'s events and commands, as Markdown."""
    clusters = ir.get("clusters", {})
    if not clusters:
        return "# Event & Command Catalog\n\n_No clusters found._\n"
    lines = ["# Event & Command Catalog", ""]
    for path, cluster in sorted(clusters.items()):
        lines += _cluster(path, cluster)
    return "\n".join(lines + _contracts(ir))
