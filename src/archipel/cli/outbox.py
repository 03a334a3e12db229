"""``archipel outbox reconcile``: outbox rows for stored messages that lack them (Protean's).

Protean's options (``--domain``, ``--provider``, ``--limit``) and messages;
``--dry-run`` lists what would be added, ``--json`` prints
``{"domain", "dry_run", "scanned", "considered", "skipped_old",
"skipped_recent", "created", "window": {"from", "to"}, "rows": [{"message_id",
"stream", "type"}]}``. Safe on a live system and idempotent: what it may
repair, and why, is :mod:`archipel.engine.reconcile`'s docstring.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli._console import CliError, UsageError, out, progress, success
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.engine.reconcile import Reconciliation, reconcile_outbox

__all__ = ["app", "reconcile"]

app = typer.Typer(help="Manage the transactional outbox.", no_args_is_help=True)


def _uses_outbox(domain: object) -> bool:
    config = getattr(domain, "config", {})
    return bool(
        getattr(domain, "_outbox_enabled", False)
        or getattr(domain, "_integration_broker", None) is not None
        or config.get("command_processing") == "async"
    )


def _report(domain_name: str, found: Reconciliation, limit: int) -> None:
    console = out()
    if found.oldest > found.newest:
        console.print(
            "[yellow]Nothing can be repaired safely:[/] [server] outbox_retention_seconds is "
            "shorter than the clock margin, so a missing row cannot be told from a relayed one"
        )
    verb = "would add" if found.dry_run else "added"
    for row in found.rows:
        console.print(f"  {verb} [bold]{escape(row['type'])}[/] {escape(row['message_id'])} "
                      f"[magenta]{escape(row['stream'])}[/]", soft_wrap=True)
    skipped = []
    if found.skipped_old:
        skipped.append(f"{found.skipped_old} older than the outbox retention (rows may have been relayed and purged)")
    if found.skipped_recent:
        skipped.append(f"{found.skipped_recent} too recent (their transaction may still commit)")
    if skipped:
        console.print(f"[dim]Skipped: {escape('; '.join(skipped))}.[/]", soft_wrap=True)
    scanned = f"the latest {found.scanned} of at most {limit} messages"
    if found.rows and found.dry_run:
        success(f"{escape(domain_name)}: {len(found.rows)} outbox row(s) missing in {scanned} "
                "(dry run: nothing added)")
    elif found.rows:
        success(f"Reconciled {len(found.rows)} outbox row(s) from the event store.")
    else:
        success(f"Nothing to reconcile: no event in the scanned window is missing its outbox row "
                f"({escape(scanned)}).")


@app.command()
def reconcile(
    domain: DomainOption = None,
    provider: Annotated[
        str,
        typer.Option("--provider", help="Database whose outbox to reconcile (archipel's outbox is in "
                     "the default database)."),
    ] = "default",
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Most recent event-store messages to scan for gaps.")
    ] = 1000,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the missing rows, add nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create outbox rows for events in the event store that are missing them.

    Looks at the latest --limit messages written within [server]
    outbox_retention_seconds (older rows may have been relayed and purged);
    adds each missing row once, so it is safe to run on a live system and to
    run again. Exit 0 whether or not rows were added.
    """
    if provider != "default":
        raise UsageError(
            f"--provider {provider!r}: archipel writes the outbox in the default database only",
            hint="drop --provider, or pass --provider default",
        )
    loaded = load_domain(domain)
    if not _uses_outbox(loaded):
        raise CliError(
            f"the outbox is not enabled for {loaded.name}: nothing writes to it",
            hint='event_processing = "async" (or enable_outbox = true) turns it on',
        )
    with loaded.domain_context(), progress("reading the latest messages") as note:
        found = reconcile_outbox(loaded, limit=limit, dry_run=dry_run, progress=note)
    if as_json:
        print_json(found.as_json(loaded.name))
        return
    _report(loaded.name, found, limit)
