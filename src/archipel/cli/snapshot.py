"""``archipel snapshot create``: snapshots of event-sourced aggregates.

Snapshots are written automatically as aggregates load (``snapshot_threshold``);
this command writes them on demand, e.g. after a migration or to warm up
aggregates with long streams.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from archipel.cli._console import UsageError, out, success
from archipel.cli._domain import DomainOption, load_domain
from archipel.domain.domain import Domain
from archipel.handling.snapshots import aggregate_identities, create_snapshot

__all__ = ["app", "progress_bar"]

app = typer.Typer(help="Create snapshots of event-sourced aggregates.", no_args_is_help=True)


def progress_bar() -> Progress:
    """The progress bar the long-running commands share (stderr-friendly, Rich)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out(),
        transient=False,
    )


def _event_sourced(domain: Domain, name: str | None) -> list[Any]:
    aggregates = {
        cls.__name__: cls
        for cls in domain.registry.of_kind("aggregate").values()
        if cls._meta.get("is_event_sourced")
    }
    if name is None:
        return list(aggregates.values())
    if name not in aggregates:
        raise UsageError(
            f"{name!r} is not an event-sourced aggregate of domain {domain.name!r}",
            hint=f"choose one of: {', '.join(sorted(aggregates)) or '(none)'}",
        )
    return [aggregates[name]]


@app.command()
def create(
    domain: DomainOption = None,
    aggregate: Annotated[
        str | None,
        typer.Option("--aggregate", help="One aggregate class (default: every event-sourced one).",
                     show_default=False),
    ] = None,
    identifier: Annotated[
        str | None,
        typer.Option("--identifier", help="One aggregate instance (needs --aggregate).", show_default=False),
    ] = None,
) -> None:
    """Snapshot one aggregate, every aggregate of a class, or every event-sourced aggregate."""
    if identifier is not None and aggregate is None:
        raise UsageError("--identifier needs --aggregate", hint="e.g. --aggregate Account --identifier 42")
    loaded = load_domain(domain)
    with loaded.domain_context():
        classes = _event_sourced(loaded, aggregate)
        if identifier is not None:
            written = create_snapshot(loaded, classes[0], identifier)
            state = "created" if written else "already up to date"
            success(f"snapshot of {escape(classes[0].__name__)} {escape(identifier)}: {state}")
            return
        total = 0
        with progress_bar() as bar:
            for cls in classes:
                identities = list(aggregate_identities(loaded, cls))
                task = bar.add_task(cls.__name__, total=len(identities))
                for identity in identities:
                    if create_snapshot(loaded, cls, identity):
                        total += 1
                    bar.advance(task)
    success(f"{total} snapshot{'s' if total != 1 else ''} created in {escape(loaded.name)}")
