"""``archipel upgrade-check``: what a Protean program ported to archipel must look at (Protean's command).

The readiness checks (:mod:`archipel.domain.upgrade`) read the initialised
domain, its configuration, its source and its live databases; with
``--opportunities`` the detectors (:mod:`archipel.domain.upgrade_opportunities`)
read only its source, without initialising it (no database or broker needed).
Nothing is applied. Findings name the Protean release their change came from.

Options and exit statuses are Protean's: ``--domain/-d``, ``--format/-f rich|json``
(JSON: the list of findings, each ``{"code", "level", "title", "detail",
"remediation", "element", "sql"}``), ``--opportunities``, ``--pinned-version``
(only with ``--opportunities``; default: the Protean release archipel follows);
exit 0 clean or info only, 2 a warning, 1 wrong usage or a domain that cannot load.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli._console import CliError, out
from archipel.cli._domain import find_domain, load_domain, resolve_spec
from archipel.domain.discovery import import_domain_modules
from archipel.domain.upgrade import UpgradeFinding, run_upgrade_checks
from archipel.domain.upgrade_opportunities import (
    PINNED_VERSION,
    PROTEAN_COMPATIBLE,
    run_opportunity_checks,
)

__all__ = ["upgrade_check"]

#: Protean's status of wrong usage and of a domain that cannot load (2 means warnings here)
_USAGE = 1


def upgrade_check(
    domain: Annotated[str | None, typer.Option(
        "--domain", "-d", help="The domain's module (e.g. 'my_app.domain'); default as every command.",
        show_default=False,
    )] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="Output format: 'rich' (default) or 'json'.")] = "rich",
    opportunities: Annotated[bool, typer.Option(
        "--opportunities", help="Report shipped capability the domain still hand-rolls, instead of readiness changes.",
    )] = False,
    pinned_version: Annotated[str | None, typer.Option(
        "--pinned-version",
        help=f"Protean version the program was written for, for --opportunities (default: {PROTEAN_COMPATIBLE}).",
        show_default=False,
    )] = None,
) -> None:
    """Report upgrade-readiness changes, or with --opportunities, shipped capability the domain
    still hand-rolls. Exit 0 clean or info only, 2 warnings found."""
    if format not in ("rich", "json"):
        raise CliError(f"Invalid --format: {format!r}. Use 'rich' or 'json'.", code=_USAGE)
    if pinned_version is not None and not opportunities:
        raise CliError("--pinned-version applies only with --opportunities.", code=_USAGE)
    if pinned_version is not None and not PINNED_VERSION.match(pinned_version):
        raise CliError(f"Invalid --pinned-version: {pinned_version!r}. Use a version like '0.16', "
                       "'0.16.3', or '0.16.0rc1'.", code=_USAGE)
    try:
        if opportunities:
            loaded = find_domain(resolve_spec(domain))
            import_domain_modules(loaded._module_name, loaded._module_file)
            findings = run_opportunity_checks(loaded, pinned_version or PROTEAN_COMPATIBLE)
        else:
            loaded = load_domain(domain)
            with loaded.domain_context():
                findings = run_upgrade_checks(loaded)
    except CliError as exc:
        raise CliError(exc.message, exc.hint, code=_USAGE) from exc
    if format == "json":
        typer.echo(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        _print_rich(loaded.name, findings)
    if any(f.level == "warning" for f in findings):
        raise typer.Exit(2)


def _print_rich(domain_name: str, findings: list[UpgradeFinding]) -> None:
    console = out()
    if not findings:
        console.print(f"\n  Domain: [bold]{escape(domain_name)}[/bold]  [bold green]READY[/bold green]")
        console.print("  No upgrade actions detected.\n")
        return
    warnings = sum(1 for f in findings if f.level == "warning")
    infos = sum(1 for f in findings if f.level == "info")
    console.print(f"\n  Domain: [bold]{escape(domain_name)}[/bold]  [bold yellow]REVIEW[/bold yellow]")
    counts = [f"[yellow]{warnings} warning(s)[/yellow]"] if warnings else []
    counts += [f"[cyan]{infos} info(s)[/cyan]"] if infos else []
    console.print(f"  {', '.join(counts)}\n")
    for f in findings:
        marker = "[yellow]![/yellow]" if f.level == "warning" else "[cyan]i[/cyan]"
        where = f" [dim]({escape(f.element)})[/dim]" if f.element else ""
        console.print(f"  {marker} [bold]{escape(f.title)}[/bold]{where}")
        console.print(f"    [dim]{f.code}[/dim]  {escape(f.detail)}")
        console.print(f"    [green]Remediation:[/green] {escape(f.remediation)}")
        if f.sql:
            console.print("    [green]Generated SQL:[/green]")
            for line in f.sql.splitlines():
                console.print(f"      [dim]{escape(line)}[/dim]")
        console.print()
