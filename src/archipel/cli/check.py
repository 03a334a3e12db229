"""``archipel check``: validate a domain without starting it (Protean's ``protean check``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli._console import out
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json

__all__ = ["check"]

_LEVELS = ("error", "warning", "info")


def check(
    domain: DomainOption = None,
    level: Annotated[
        str, typer.Option("--level", "-l", help="Lowest severity shown: error, warning or info.")
    ] = "info",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the counts only.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate the domain (configuration, model, routing, upcasters) and list what is wrong.

    Nothing is initialised or connected. Exit status 1 when there is an error,
    0 otherwise (warnings included).
    """
    if level not in _LEVELS:
        raise typer.BadParameter(f"{level!r}; use one of {', '.join(_LEVELS)}", param_hint="--level")
    loaded = load_domain(domain, init=False)
    report = loaded.check(traverse=True)
    shown = _LEVELS[: _LEVELS.index(level) + 1]
    diagnostics = [d for d in report["diagnostics"] if d.get("level") in shown]
    if as_json:
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
    if report["errors"]:
        raise typer.Exit(1)
