"""``archipel check``: validate a domain without starting it (Protean's ``protean check``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli._console import err, out
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.cli.check_formats import FORMATS, envelope, github_annotations, sarif
from archipel.domain.lint_config import gates, lint_table
from archipel.errors import ConfigurationError

__all__ = ["check"]

_LEVELS = ("error", "warning", "info")


def check(
    domain: DomainOption = None,
    level: Annotated[
        str, typer.Option("--level", "-l", help="Lowest severity shown: error, warning or info.")
    ] = "info",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the counts only.")] = False,
    as_json: JsonOption = False,
    output: Annotated[
        str,
        typer.Option(
            "--format", "-f",
            help="rich (default), json (Protean's envelope), sarif or github-annotations.",
        ),
    ] = "rich",
) -> None:
    """Validate the domain (configuration, model, routing, upcasters, lint rules) and list what is wrong.

    Nothing is initialised or connected. Exit status 1 when there is an error or
    a finding at the ``[lint].level`` floor (default ``warn``: warnings fail, info
    does not; ``error``: only errors; ``info``: any finding), 2 for a malformed
    ``[lint]`` table. ``--level`` filters the printed report and ``--json``; the
    ``--format`` machine outputs always carry every finding.
    """
    if level not in _LEVELS:
        raise typer.BadParameter(f"{level!r}; use one of {', '.join(_LEVELS)}", param_hint="--level")
    if output not in FORMATS:
        raise typer.BadParameter(f"{output!r}; use one of {', '.join(FORMATS)}", param_hint="--format")
    if as_json and output != "rich":
        raise typer.BadParameter("give --json or --format, not both", param_hint="--json")
    loaded = load_domain(domain, init=False)
    try:
        floor = lint_table(loaded.config).get("level", "warn")
        report = loaded.check(traverse=True)
    except ConfigurationError as exc:
        err().print(f"[red]Invalid config:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    failed = gates(report, floor)
    shown = _LEVELS[: _LEVELS.index(level) + 1]
    diagnostics = [d for d in report["diagnostics"] if d.get("level") in shown]
    if output == "json":
        print_json(envelope(report, failed=failed))
    elif output == "sarif":
        from archipel import __version__

        print_json(sarif(report, __version__))
    elif output == "github-annotations":
        text = github_annotations(report)
        if text:
            typer.echo(text)
    elif as_json:
        print_json({**report, "diagnostics": diagnostics})
    else:
        console = out()
        counts = report["counts"]
        if not quiet:
            for error in report["errors"]:
                console.print(
                    f"[red]error[/] {escape(error['element'])}: {escape(error['code'])}: "
                    f"{escape(error['message'])}"
                )
            for item in diagnostics:
                colour = "yellow" if item.get("level") == "warning" else "cyan"
                console.print(
                    f"[{colour}]{escape(str(item.get('level')))}[/] {escape(str(item.get('code')))} "
                    f"{escape(str(item.get('element')))}: {escape(str(item.get('message')))}"
                )
                if item.get("suggestion"):
                    console.print(f"    {escape(str(item['suggestion']))}")
        console.print(
            f"[bold]{escape(loaded.name)}[/]: {report['status']} — {counts['errors']} error(s), "
            f"{counts['warnings']} warning(s), {counts['infos']} info"
        )
    if failed:
        raise typer.Exit(1)
