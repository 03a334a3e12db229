"""``archipel add aggregate <Name>``: scaffold a vertical slice into a project (Protean's ``add``).

In a project made by ``archipel new`` (one ``src/<package>/domain.py``), writes the
aggregate (``aggregate_base.py``, generated, and ``aggregate.py``, yours), its create
command and created event, the command handler, and a projection with its projector
under ``src/<package>/<slug>/``; ``domain.init()`` finds them. ``--dry-run`` prints the
plan and writes nothing. Writing is create-only and all-or-nothing.

Exit status, as Protean's: 0 written (or previewed); 1 a target exists or a write
failed (what was written is removed); 2 wrong usage (an unsupported element type, an
invalid name, no project to add to, ``--dry-run`` with ``--apply``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from archipel.cli._console import CliError, UsageError
from archipel.cli.add_plan import (
    AddPlanError,
    ApplyError,
    apply_plan,
    plan_add_slice,
    render_preview,
)

__all__ = ["add"]


def add(
    element_type: Annotated[str, typer.Argument(help="The element type to add: 'aggregate'.")],
    name: Annotated[str, typer.Argument(help="The aggregate's name, e.g. 'Order' or 'order_item'.")],
    path: Annotated[
        str, typer.Option("--path", "-p", help="The project folder (the one holding src/).")
    ] = ".",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; write nothing.")] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="Write the plan (the default); not with --dry-run.")
    ] = False,
) -> None:
    """Scaffold a new element slice, or preview it with --dry-run."""
    if dry_run and apply:
        raise UsageError("--dry-run and --apply cannot be used together.")
    try:
        plan = plan_add_slice(path, element_type, name)
    except AddPlanError as exc:
        raise UsageError(str(exc)) from exc
    if dry_run:
        typer.echo(render_preview(plan))
        return
    try:
        written = apply_plan(path, plan)
    except ApplyError as exc:
        raise CliError(str(exc)) from exc
    noun = "file" if len(written) == 1 else "files"
    typer.echo("\n".join([f"Wrote {len(written)} {noun}:", *(f"  {p}" for p in written)]))
