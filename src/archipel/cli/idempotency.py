"""``archipel idempotency cleanup``: prune old processed-message records (Protean's command).

Protean's options (``--domain``, ``--retention-hours``, ``--batch-size``;
defaults from ``[consume_idempotency.cleanup]``: 168 hours, 5000) and
messages; ``--json`` prints ``{"domain", "deleted", "batches",
"retention_hours", "batch_size", "before", "kept_subscriptions",
"supported"}``. Which records are safe to delete, and why, is
:mod:`archipel.engine.marker_cleanup`'s docstring. Run it from cron.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli._console import err, out, progress, success
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.engine.marker_cleanup import MIN_RETENTION_HOURS, cleanup_processed_messages

__all__ = ["app", "cleanup"]

app = typer.Typer(help="Manage consume-side idempotency markers.", no_args_is_help=True)


@app.command()
def cleanup(
    domain: DomainOption = None,
    retention_hours: Annotated[
        int | None,
        typer.Option(
            "--retention-hours",
            min=MIN_RETENTION_HOURS,
            help="Prune markers older than this many hours (default: [consume_idempotency.cleanup] "
            "retention_hours, else 168).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="Rows deleted per bounded batch (default 5000).",
                     show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Prune consume-side idempotency markers older than the retention window.

    archipel's markers are the processed-message records of every subscription
    (and of idempotent handlers). A marker is only useful while its message can
    still be redelivered, so older ones are deleted, in short batches; those of a
    subscription still catching up from the event store are kept. Run from cron.
    """
    loaded = load_domain(domain)
    with loaded.domain_context(), progress("deleting old markers") as note:
        found = cleanup_processed_messages(
            loaded,
            retention_hours=retention_hours,
            batch_size=batch_size,
            progress=lambda count: note(f"deleted {count} markers"),
        )
    before = dt.datetime.fromtimestamp(found.before, tz=dt.UTC).isoformat()
    if as_json:
        print_json({"domain": loaded.name, "deleted": found.deleted, "batches": found.batches,
                    "retention_hours": found.retention_hours, "batch_size": found.batch_size,
                    "before": before, "kept_subscriptions": found.kept, "supported": found.supported})
        return
    if not found.supported:
        err().print("[dim]the memory database keeps its markers in its own process: "
                    "nothing to prune from here[/]")
    for name in found.kept:
        out().print(f"[dim]kept the markers of {escape(name)} (catching up from the event store)[/]")
    if found.deleted:
        success(f"Deleted {found.deleted} idempotency marker(s) written before {escape(before)}.")
    else:
        success("No idempotency markers to clean up.")
