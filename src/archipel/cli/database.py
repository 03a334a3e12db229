"""``archipel database setup|drop|truncate``: the domain's tables and stored data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli._console import confirm, success
from archipel.cli._domain import DomainOption, load_domain
from archipel.domain.domain import Domain

__all__ = ["app"]

app = typer.Typer(
    help="Create, drop or empty the domain's database tables.",
    no_args_is_help=True,
)

YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
]


def _storage_summary(domain: Domain) -> str:
    """``7 tables in 'default' (memory); event store (memory)`` for the messages."""
    providers = {
        name: settings.get("provider", "?")
        for name, settings in (domain.config.get("databases") or {}).items()
    }
    parts = []
    for name, provider in providers.items():
        tables = sum(
            1 for schema in domain.schemas if schema.database == name and schema.kind != "event_sourced"
        )  # event-sourced aggregates have no table
        noun = "table" if tables == 1 else "tables"
        parts.append(f"{tables} {noun} in '{escape(name)}' ({escape(str(provider))})")
    store = (domain.config.get("event_store") or {}).get("provider", "memory")
    parts.append(f"event store ({escape(str(store))})")
    return "; ".join(parts)


def _run(domain: Domain, action: Callable[[], None]) -> None:
    # adapters may consult current_domain (e.g. per-domain table prefixes)
    with domain.domain_context():
        action()


@app.command()
def setup(domain: DomainOption = None) -> None:
    """Create the tables of every database and the event store (idempotent)."""
    loaded = load_domain(domain)
    _run(loaded, loaded.setup_database)
    success(f"[bold]{escape(loaded.name)}[/]: set up {_storage_summary(loaded)}")


@app.command("setup-outbox")
def setup_outbox(domain: DomainOption = None) -> None:
    """Create archipel's own tables only (outbox, event log, markers), not the model's (idempotent)."""
    loaded = load_domain(domain)
    _run(loaded, loaded.setup_outbox)
    success(f"[bold]{escape(loaded.name)}[/]: set up the outbox and event tables")


@app.command()
def drop(domain: DomainOption = None, yes: YesOption = False) -> None:
    """Drop the tables of every database and the event store (data is lost)."""
    loaded = load_domain(domain)
    confirm(f"Drop every table of domain {loaded.name!r}?", yes)
    _run(loaded, loaded.drop_database)
    success(f"[bold]{escape(loaded.name)}[/]: dropped {_storage_summary(loaded)}")


@app.command()
def truncate(domain: DomainOption = None, yes: YesOption = False) -> None:
    """Delete all data (tables stay), including stored events and broker streams."""
    loaded = load_domain(domain)
    confirm(f"Delete all data of domain {loaded.name!r}?", yes)
    _run(loaded, loaded.truncate_database)
    success(f"[bold]{escape(loaded.name)}[/]: emptied {_storage_summary(loaded)}")
