"""``archipel dlq list|inspect|replay|purge``: messages that failed every retry.

The store comes from :func:`archipel.engine.dlq.dead_letter_store`; a dead
letter has ``id, subscription, message_id, type, stream, payload, error,
attempts, first_failed_at, last_failed_at``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.json import JSON
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from archipel.cli import _engine
from archipel.cli._console import CliError, UsageError, confirm, out, success
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.domain.domain import Domain
from archipel.observatory.shapes import dead_letter_json, groups_json
from archipel.observatory.shapes import error_summary as error_summary

__all__ = ["app", "error_summary"]

app = typer.Typer(help="Inspect, replay or purge dead-lettered messages.", no_args_is_help=True)

SubscriptionOption = Annotated[
    str | None,
    typer.Option("--subscription", "-s", help="Only this subscription (handler).", show_default=False),
]
IdArgument = Annotated[str | None, typer.Argument(help="A dead letter id.", show_default=False)]
AllOption = Annotated[bool, typer.Option("--all", help="Every dead letter (of --subscription).")]


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        zone = "" if value.utcoffset() in (None, dt.timedelta(0)) else value.strftime(" %z")
        return value.strftime("%Y-%m-%d %H:%M:%S") + zone
    return "" if value is None else str(value)


def _store(domain: Domain) -> Any:
    with domain.domain_context():
        return _engine.dead_letter_store(domain)


def _exactly_one(letter_id: str | None, every: bool, verb: str) -> None:
    if bool(letter_id) == every:
        raise UsageError(
            f"{verb} takes a dead letter id or --all (not both, not neither)",
            hint=f"archipel dlq {verb} ID, or archipel dlq {verb} --all",
        )


@app.command("list")
def list_(
    domain: DomainOption = None,
    subscription: SubscriptionOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List dead letters, newest failures included."""
    loaded = load_domain(domain)
    store = _store(loaded)
    with loaded.domain_context():
        letters = list(store.list(subscription=subscription, limit=limit))
    if as_json:
        print_json(
            {
                "domain": loaded.name,
                "total": len(letters),
                "dead_letters": [dead_letter_json(x) for x in letters],
                "groups": groups_json(letters),
            }
        )
        return
    if not letters:
        scope = f" for subscription {subscription}" if subscription else ""
        out().print(f"No dead letters{escape(scope)} in domain {escape(loaded.name)}")
        return
    table = Table(
        title=f"{loaded.name}: {len(letters)} dead letter(s)",
        title_justify="left",
        caption="details: archipel dlq inspect ID; after fixing the cause: archipel dlq replay ID|--all",
        caption_justify="left",
    )
    # ids are copied into the next command: never wrapped or cut
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("subscription", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("attempts", justify="right", no_wrap=True)
    table.add_column("last failed", no_wrap=True)
    table.add_column("error", style="red", overflow="fold")
    for letter in letters:
        table.add_row(
            escape(str(letter.id)),
            escape(str(letter.subscription)),
            escape(str(letter.type)),
            str(letter.attempts),
            _when(letter.last_failed_at),
            escape(error_summary(letter.error)),
        )
    out().print(table)


@app.command()
def inspect(
    letter_id: Annotated[str, typer.Argument(metavar="ID", help="The dead letter id.")],
    domain: DomainOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one dead letter: where it failed, why, and its payload as JSON."""
    loaded = load_domain(domain)
    store = _store(loaded)
    with loaded.domain_context():
        letter = store.get(letter_id)
    if letter is None:
        raise CliError(f"no dead letter with id {letter_id!r}", hint="list them with archipel dlq list")
    if as_json:
        print_json(dead_letter_json(letter, full=True))
        return
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    for label, value in (
        ("subscription", letter.subscription),
        ("message id", letter.message_id),
        ("type", letter.type),
        ("stream", letter.stream),
        ("attempts", letter.attempts),
        ("first failed", _when(letter.first_failed_at)),
        ("last failed", _when(letter.last_failed_at)),
    ):
        facts.add_row(label, escape(str(value)))
    payload = JSON(json.dumps(letter.payload, default=str, indent=2))
    out().print(
        Panel(
            Group(
                facts,
                "",
                "[bold]error[/]",
                f"[red]{escape(str(letter.error))}[/]",
                "",
                "[bold]payload[/]",
                payload,
            ),
            title=f"dead letter {escape(str(letter.id))}",
            title_align="left",
        )
    )


@app.command()
def replay(
    letter_id: IdArgument = None,
    every: AllOption = False,
    domain: DomainOption = None,
    subscription: SubscriptionOption = None,
) -> None:
    """Send dead letters back to their subscription (after fixing the cause)."""
    _exactly_one(letter_id, every, "replay")
    loaded = load_domain(domain)
    store = _store(loaded)
    with loaded.domain_context():
        if every:
            count = int(store.replay_all(subscription=subscription))
            success(f"replayed {count} dead letter{'s' if count != 1 else ''}")
            return
        if not store.replay(letter_id):
            raise CliError(f"no dead letter with id {letter_id!r}", hint="list them with archipel dlq list")
    success(f"replayed dead letter {escape(str(letter_id))}")


@app.command()
def purge(
    letter_id: IdArgument = None,
    every: AllOption = False,
    domain: DomainOption = None,
    subscription: SubscriptionOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete dead letters for good (messages that cannot be recovered)."""
    _exactly_one(letter_id, every, "purge")
    loaded = load_domain(domain)
    store = _store(loaded)
    if every:
        scope = f" of subscription {subscription!r}" if subscription else ""
        confirm(f"Delete every dead letter{scope} in domain {loaded.name!r}?", yes)
        with loaded.domain_context():
            count = int(store.purge_all(subscription=subscription))
        success(f"purged {count} dead letter{'s' if count != 1 else ''}")
        return
    confirm(f"Delete dead letter {letter_id!r}?", yes)
    with loaded.domain_context():
        if not store.purge(letter_id):
            raise CliError(f"no dead letter with id {letter_id!r}", hint="list them with archipel dlq list")
    success(f"purged dead letter {escape(str(letter_id))}")
