"""Text output of ``archipel ir``: the summary of ``show --format summary`` and the readable
diff of ``ir diff`` (Protean's layout: breaking changes first, then each section)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.markup import escape
from rich.table import Table

from archipel.cli._console import out
from archipel.ir.compat import breaking_change_messages
from archipel.ir.diff import CLUSTER_SECTIONS
from archipel.ir.report import CompatibilityReport

__all__ = ["compatibility_block", "print_diff", "print_summary"]

_VERDICT_COLOR = {"FULL": "green", "BACKWARD": "yellow", "FORWARD": "yellow", "NONE": "red"}
_INNER = (*CLUSTER_SECTIONS, "projectors", "queries", "query_handlers")


def _p(text: str) -> None:
    out().print(text, soft_wrap=True)


def print_summary(ir: dict[str, Any]) -> None:
    """Domain, IR version, checksum, a table of element counts, clusters, diagnostics."""
    _p(f"\n[bold]Domain:[/bold] {escape(str(ir['domain']['name']))}")
    _p(f"[bold]IR Version:[/bold] {escape(str(ir['ir_version']))}")
    _p(f"[bold]Checksum:[/bold] {escape(str(ir['checksum']))}\n")
    table = Table(title="Element Counts")
    table.add_column("Element Type", style="cyan")
    table.add_column("Count", justify="right", style="green")
    for element_type, paths in sorted(ir.get("elements", {}).items()):
        table.add_row(element_type, str(len(paths)))
    out().print(table)
    clusters = ir.get("clusters", {})
    if clusters:
        _p(f"\n[bold]Clusters:[/bold] {len(clusters)}")
        for _, cluster in sorted(clusters.items()):
            counts = [len(cluster.get(s, {})) for s in ("entities", "value_objects", "commands", "events")]
            _p(f"  {escape(cluster['aggregate']['name'])}: {counts[0]} entities, {counts[1]} VOs, "
               f"{counts[2]} commands, {counts[3]} events")
    diagnostics = ir.get("diagnostics", [])
    if diagnostics:
        _p(f"\n[bold yellow]Diagnostics:[/bold yellow] {len(diagnostics)}")
        for diag in diagnostics:
            _p(f"  [{escape(str(diag['level']))}] {escape(str(diag['code']))}: {escape(str(diag['message']))}")


def compatibility_block(report: CompatibilityReport) -> dict[str, Any]:
    """The ``compatibility`` part of ``ir diff --format json``."""
    return {
        "avro_verdict": report.avro_verdict,
        "avro_verdicts": report.avro_verdicts_by_element(),
        "breaking_changes": [asdict(c) for c in report.breaking_changes],
        "safe_changes": [asdict(c) for c in report.safe_changes],
    }


def _label(key: str, info: dict[str, Any]) -> str:
    name = info.get("name", key.rsplit(".", 1)[-1])
    element_type = info.get("element_type", "")
    return escape(f"{name} ({element_type})" if element_type else str(name))


def _section(section: dict[str, Any], indent: int = 2) -> None:
    pad = " " * indent
    for key, info in sorted(section.get("added", {}).items()):
        _p(f"{pad}[green]+ {_label(key, info)}[/green]")
    for key, info in sorted(section.get("removed", {}).items()):
        _p(f"{pad}[red]- {_label(key, info)}[/red]")
    for key, changes in sorted(section.get("changed", {}).items()):
        _p(f"{pad}[yellow]~ {escape(key.rsplit('.', 1)[-1])}[/yellow]")
        _element(changes, indent + 4)


def _fields(fields: dict[str, Any], pad: str) -> None:
    for name, info in sorted(fields.get("added", {}).items()):
        required = ", required" if info.get("required") else ""
        _p(f"{pad}[green]+ field: {escape(name)} ({escape(str(info.get('type', info.get('kind', ''))))}"
           f"{required})[/green]")
    for name, info in sorted(fields.get("removed", {}).items()):
        _p(f"{pad}[red]- field: {escape(name)} ({escape(str(info.get('type', info.get('kind', ''))))})[/red]")
    for name, attributes in sorted(fields.get("changed", {}).items()):
        for attribute, values in sorted(attributes.items()):
            _p(f"{pad}[yellow]~ field {escape(name)}.{escape(attribute)}: {escape(str(values['left']))} → "
               f"{escape(str(values['right']))}[/yellow]")


def _element(changes: dict[str, Any], indent: int) -> None:
    pad = " " * indent
    if "aggregate" in changes:
        _p(f"{pad}[dim]aggregate:[/dim]")
        _element(changes["aggregate"], indent + 2)
    _fields(changes.get("fields", {}), pad)
    for key, values in sorted(changes.get("options", {}).get("changed", {}).items()):
        _p(f"{pad}[yellow]~ option {escape(key)}: {escape(str(values['left']))} → "
           f"{escape(str(values['right']))}[/yellow]")
    handlers = changes.get("handlers", {})
    for key in sorted(handlers.get("added", {})):
        _p(f"{pad}[green]+ handles: {escape(key)}[/green]")
    for key in sorted(handlers.get("removed", {})):
        _p(f"{pad}[red]- handles: {escape(key)}[/red]")
    for category in ("pre", "post"):
        found = changes.get("invariants", {}).get(category, {})
        for name in found.get("added", []):
            _p(f"{pad}[green]+ invariant ({category}): {escape(name)}[/green]")
        for name in found.get("removed", []):
            _p(f"{pad}[red]- invariant ({category}): {escape(name)}[/red]")
    for sub in _INNER:
        if changes.get(sub):
            _p(f"{pad}[dim]{sub.replace('_', ' ')}:[/dim]")
            _section(changes[sub], indent + 2)


def _verdict(report: CompatibilityReport) -> None:
    verdict = report.avro_verdict
    color = _VERDICT_COLOR.get(verdict, "white")
    _p(f"\n[bold]Avro compatibility:[/bold] [{color}]{verdict}[/{color}]")
    if verdict == "FULL" and report.is_breaking:
        _p("  [dim](payload-compatible, but breaking changes are present; see above)[/dim]")
    for direction, change in report.avro_direction_breaks():
        _p(f"  [dim]breaks {direction}:[/dim] {escape(change.message)}")


def print_diff(result: dict[str, Any], report: CompatibilityReport) -> None:
    """The readable diff, then the Avro verdict when anything was classified."""
    summary = result.get("summary", {})
    if not summary.get("has_changes", False):
        _p("[green]No changes detected.[/green]")
        return
    _p(f"\n[bold]IR Diff[/bold]  left={escape(str(summary.get('left_checksum', '?'))[:16])}  "
       f"right={escape(str(summary.get('right_checksum', '?'))[:16])}")
    counts = summary.get("counts", {})
    _p(f"  [green]+{counts.get('added', 0)} added[/green]  [red]-{counts.get('removed', 0)} removed[/red]  "
       f"[yellow]~{counts.get('changed', 0)} changed[/yellow]")
    messages = breaking_change_messages(result, report)
    if messages:
        _p(f"\n[bold red]Breaking Changes ({len(messages)}):[/bold red]")
        for message in messages:
            _p(f"  [red]! {escape(message)}[/red]")
    for key, title in (("clusters", "Clusters"), ("projections", "Projections")):
        if result.get(key):
            _p(f"\n[bold]{title}[/bold]")
            _section(result[key])
    flows = result.get("flows", {})
    if flows:
        _p("\n[bold]Flows[/bold]")
        for sub in ("domain_services", "process_managers", "subscribers"):
            if flows.get(sub):
                _p(f"  [dim]{sub.replace('_', ' ').title()}[/dim]")
                _section(flows[sub], indent=4)
    _others(result)
    out().print()
    if report.breaking_changes or report.safe_changes:
        _verdict(report)


def _others(result: dict[str, Any]) -> None:
    contracts = result.get("contracts", {})
    if contracts.get("added") or contracts.get("removed"):
        _p("\n[bold]Contracts[/bold]")
        for event in contracts.get("added", []):
            _p(f"  [green]+ published event: {escape(str(event.get('type', event.get('fqn'))))}[/green]")
        for event in contracts.get("removed", []):
            _p(f"  [red]- published event: {escape(str(event.get('type', event.get('fqn'))))}[/red]")
    diagnostics = result.get("diagnostics", {})
    if diagnostics:
        _p("\n[bold]Diagnostics[/bold]")
        for diag in diagnostics.get("added", []):
            _p(f"  [yellow]+ {escape(str(diag.get('code')))}: {escape(str(diag.get('message')))}[/yellow]")
        for diag in diagnostics.get("resolved", []):
            _p(f"  [green]- resolved: {escape(str(diag.get('code')))}: {escape(str(diag.get('message')))}[/green]")
    changed = result.get("domain", {}).get("changed", {})
    if changed:
        _p("\n[bold]Domain Config[/bold]")
        for key, values in sorted(changed.items()):
            _p(f"  [yellow]~ {escape(key)}: {escape(str(values['left']))} → {escape(str(values['right']))}[/yellow]")
    enrichers = result.get("enrichers", {}).get("changed", {})
    if enrichers:
        _p("\n[bold]Enrichers[/bold]")
        for kind, values in sorted(enrichers.items()):
            before = ", ".join(values["left"] or []) or "none"
            after = ", ".join(values["right"] or []) or "none"
            _p(f"  [yellow]~ {escape(kind)}: {escape(before)} → {escape(after)}[/yellow]")
