"""``archipel projection rebuild|status``: rebuild read models from the event store.

``rebuild`` empties a projection (or every one) and replays its projectors'
events with a progress bar; ``status`` shows, per projection, the position
its last rebuild reached against the head of its categories, the live
subscription's lag and dead letters when the server runs its projectors,
and the last error.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from archipel.cli._console import UsageError, out, success
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli.snapshot import progress_bar
from archipel.domain.domain import Domain
from archipel.errors import ArchipelError
from archipel.handling.rebuild import (
    categories_head,
    projection_categories,
    projector_routes,
    rebuild_projection,
    rebuild_records,
)

__all__ = ["app"]

app = typer.Typer(help="Rebuild projections and see how far they are.", no_args_is_help=True)


def _projections(domain: Domain, name: str | None) -> list[Any]:
    found = {
        cls.__name__: cls
        for cls in domain.registry.of_kind("projection").values()
        if projector_routes(domain, cls)
    }
    if name is None:
        return list(found.values())
    if name not in found:
        raise UsageError(
            f"{name!r} is not a projection with projectors in domain {domain.name!r}",
            hint=f"choose one of: {', '.join(sorted(found)) or '(none)'}",
        )
    return [found[name]]


@app.command()
def rebuild(
    domain: DomainOption = None,
    projection: Annotated[
        str | None,
        typer.Option("--projection", help="One projection class (default: every one).", show_default=False),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Events per transaction.")] = 1000,
) -> None:
    """Empty the projection(s) and replay their events from the event store.

    A running server's live delivery to these projectors waits meanwhile, then
    resumes: nothing lost or applied twice.
    """
    loaded = load_domain(domain)
    total = 0
    with loaded.domain_context():
        classes = _projections(loaded, projection)
        with progress_bar() as bar:
            for cls in classes:
                task = bar.add_task(cls.__name__, total=None)

                def advance(position: int, head: int, task: Any = task) -> None:
                    bar.update(task, completed=position, total=head or None)

                result = rebuild_projection(loaded, cls, batch_size, advance)
                bar.update(task, completed=result.position, total=result.position or 1)
                total += result.events_dispatched
    success(f"rebuilt {len(classes)} projection{'s' if len(classes) != 1 else ''} from {total} events")


def _when(value: Any) -> str:
    if not value:
        return ""
    return dt.datetime.fromtimestamp(float(value), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _live(domain: Domain) -> dict[str, Any]:
    """Live projector subscriptions by projector class name (async processing only)."""
    try:
        from archipel.engine.status import subscription_status

        return {row.name.rpartition(".")[2]: row for row in subscription_status(domain) if row.kind == "projector"}
    except ArchipelError:
        return {}


@app.command()
def status(domain: DomainOption = None) -> None:
    """Per projection: rebuild position vs head, lag, dead letters, last error."""
    loaded = load_domain(domain)
    with loaded.domain_context():
        classes = _projections(loaded, None)
        records = rebuild_records(loaded)
        live = _live(loaded) if loaded.config.get("event_processing") == "async" else {}
        store = loaded.event_store
        table = Table(title=f"{loaded.name}: projections", title_justify="left")
        for column in ("projection", "rebuild", "position", "head", "behind", "live lag", "dlq",
                       "last rebuild", "last error"):
            table.add_column(column, overflow="fold")
        for cls in classes:
            record = records.get(cls.__name__) or {}
            head = categories_head(store, projection_categories(loaded, cls))
            position = int(record.get("position") or 0)
            projectors = {r.handler_cls.__name__ for r in projector_routes(loaded, cls)}
            rows = [live[p] for p in projectors if p in live]
            lag = sum(r.lag or 0 for r in rows) if rows else None
            dlq = sum(r.dlq_depth or 0 for r in rows) if rows else None
            state = str(record.get("state") or "never")
            if state == "rebuilding":
                state = "rebuilding (or interrupted: run it again)"
            table.add_row(
                escape(cls.__name__),
                escape(state),
                str(position) if record else "",
                str(head),
                str(max(head - position, 0)) if record else "",
                "" if lag is None else str(lag),
                "" if dlq is None else str(dlq),
                _when(record.get("finished_at") or record.get("started_at")),
                escape(str(record.get("error") or "")),
            )
    out().print(table)
