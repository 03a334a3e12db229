"""``archipel dlq list|inspect|replay|replay-all|purge``: messages a subscription gave up on.

The store comes from :func:`archipel.engine.dlq.dead_letter_store`; a dead
letter has ``id, subscription, message_id, type, stream, payload, error,
attempts, first_failed_at, last_failed_at`` (``error``: the traceback).

Guarantees: ``list`` and ``inspect`` only read (no table is created; an
unset database has nothing yet); ids may be given as any unique prefix (the
list shows 8 characters, ``--wide`` all); an unknown id exits 1 naming it.
``replay`` publishes through the domain's broker and deletes the letter only
once the broker accepted the message; with a broker inside the server's
process (inline) it exits 1 and keeps the letter. ``--subscription`` takes a
subscription or, as Protean's does, a stream category (:mod:`archipel.cli.dlq_scope`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console, Group, OverflowMethod
from rich.json import JSON
from rich.markup import escape
from rich.measure import Measurement
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from archipel.cli import _engine
from archipel.cli._console import CliError, UsageError, confirm, out, success
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.cli.dlq_scope import Scope, resolve_scope, short_name
from archipel.domain.domain import Domain
from archipel.errors import BrokerNotShared
from archipel.observatory.shapes import dead_letter_json, groups_json
from archipel.observatory.shapes import error_summary as error_summary

__all__ = ["app", "error_summary", "print_table", "short_name"]

app = typer.Typer(help="Inspect, replay or purge dead-lettered messages.", no_args_is_help=True)

SubscriptionOption = Annotated[
    str | None,
    typer.Option(
        "--subscription",
        "-s",
        help="Only this subscription (handler name or class name) or stream category (Protean's).",
        show_default=False,
    ),
]
IdArgument = Annotated[
    str | None, typer.Argument(help="A dead letter id (or a unique prefix of it).", show_default=False)
]
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


WideOption = Annotated[
    bool, typer.Option("--wide", help="Full ids and names (the table may then exceed the terminal).")
]
#: characters of an id shown in a narrow table; any unique prefix is accepted back
SHORT_ID = 8


_EVERY = 1_000_000


def _scope(domain: Domain, store: Any, given: str | None) -> tuple[Scope, list[Any]]:
    """The scope ``--subscription given`` names, and every stored letter when it was needed."""
    if not given:
        return Scope(), []
    with domain.domain_context():
        letters = list(store.list(limit=_EVERY))

    def subscriptions() -> list[str]:
        with domain.domain_context():
            return [str(_field(row, "name")) for row in _engine.subscription_status(domain)]

    def categories() -> list[str]:
        aggregates = domain.registry.of_kind("aggregate").values()
        return [str(cls._meta.stream_category) for cls in aggregates]

    return resolve_scope(given, letters, subscriptions, categories), letters


def _field(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def _in_scope(scope: Scope, letters: list[Any], store: Any, limit: int = _EVERY) -> list[Any]:
    if scope.category is None:
        return list(store.list(subscription=scope.subscription, limit=limit))
    return [x for x in letters if scope.admits(x)][:limit]


def _resolve(store: Any, given: str) -> Any:
    """The letter whose id is ``given`` or starts with it (unique); None when there is none."""
    letter = store.get(given)
    if letter is not None or len(given) < 4:
        return letter
    matches = [x for x in store.list(limit=1_000_000) if str(x.id).startswith(given)]
    if len(matches) > 1:
        raise CliError(
            f"dead letter id {given!r} is ambiguous ({len(matches)} match)",
            hint="give more characters, or see them with archipel dlq list --wide",
        )
    return matches[0] if matches else None


def _unknown(letter_id: str | None) -> CliError:
    return CliError(f"no dead letter with id {letter_id!r}", hint="list them with archipel dlq list")


@app.command("list")
def list_(
    domain: DomainOption = None,
    subscription: SubscriptionOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 100,
    wide: WideOption = False,
    as_json: JsonOption = False,
) -> None:
    """List dead letters, oldest failure first (reads only: creates nothing).

    Fits the terminal: ids are cut to their first characters (which every
    other dlq command accepts), long names and errors end in "…"; ``--wide``
    shows them whole.
    """
    loaded = load_domain(domain)
    store = _store(loaded)
    scope, every = _scope(loaded, store, subscription)
    with loaded.domain_context():
        letters = _in_scope(scope, every, store, limit)
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
        out().print(f"No dead letters{escape(scope.describe())} in domain {escape(loaded.name)} (nothing yet)")
        return
    table = Table(
        title=f"{loaded.name}: {len(letters)} dead letter(s)",
        title_justify="left",
        caption="details: archipel dlq inspect ID; after fixing the cause: archipel dlq replay ID|--all"
        + ("" if wide else "; full ids: --wide"),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=not wide,
    )
    cut: OverflowMethod = "fold" if wide else "ellipsis"
    # fixed columns get their width, the others share the rest (ratio): nothing collapses to 0
    stamp = len(_when(letters[0].last_failed_at)) or 1
    table.add_column("id", style="bold", no_wrap=True, width=None if wide else SHORT_ID)
    table.add_column("subscription", overflow=cut, no_wrap=not wide, ratio=None if wide else 3)
    # below 100 columns the type gives way to the subscription and the error (inspect shows it)
    with_type = wide or out().width >= 100
    if with_type:
        table.add_column("type", overflow=cut, no_wrap=not wide, ratio=None if wide else 3)
    table.add_column("tries", justify="right", no_wrap=True, width=None if wide else 5)
    table.add_column("last failed", no_wrap=True, width=None if wide else max(stamp, 11))
    table.add_column("error", style="red", overflow=cut, no_wrap=not wide, ratio=None if wide else 5)
    for letter in letters:
        table.add_row(
            escape(str(letter.id) if wide else str(letter.id)[:SHORT_ID]),
            escape(str(letter.subscription) if wide else short_name(str(letter.subscription))),
            *([escape(str(letter.type))] if with_type else []),
            str(letter.attempts),
            _when(letter.last_failed_at),
            escape(error_summary(letter.error, width=10_000 if wide else 100)),
        )
    print_table(table, wide)


def print_table(table: Table, wide: bool) -> None:
    """Print ``table`` on stdout; ``wide``: at its natural width, wider than the terminal if need be."""
    console = out()
    if wide:
        needed = Measurement.get(console, console.options.update_width(100_000), table).maximum
        console.width = max(console.width, needed)
    console.print(table)


@app.command()
def inspect(
    letter_id: Annotated[str, typer.Argument(metavar="ID", help="The dead letter id (or a unique prefix).")],
    domain: DomainOption = None,
    subscription: SubscriptionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one dead letter: where it failed, the error and its traceback, and the payload as JSON."""
    loaded = load_domain(domain)
    store = _store(loaded)
    scope, _ = _scope(loaded, store, subscription)
    with loaded.domain_context():
        letter = _resolve(store, letter_id)
    if letter is None or not scope.admits(letter):
        raise _unknown(letter_id)
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
    summary = error_summary(letter.error, width=10_000)
    trace = str(letter.error or "").strip()
    parts: list[Any] = [facts, "", "[bold]error[/]", f"[red]{escape(summary)}[/]"]
    if trace and trace != summary:
        parts += ["", "[bold]traceback[/]", Text(trace, overflow="fold")]
    out().print(
        Panel(
            Group(*parts, "", "[bold]payload[/]", payload),
            title=f"dead letter {escape(str(letter.id))}",
            title_align="left",
        )
    )


@contextmanager
def _progress_bar(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (only on a terminal) fed by ``advance(done, total)``."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(what, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _replay_many(loaded: Domain, store: Any, scope: Scope, every: list[Any]) -> int:
    with loaded.domain_context(), _progress_bar("replaying dead letters") as advance:
        if scope.category is None:
            return int(
                store.replay_all(
                    subscription=scope.subscription, from_another_process=True, progress=advance
                )
            )
        chosen = [x for x in every if scope.admits(x)]
        done = 0
        for letter in chosen:  # one by one: each is deleted once the broker accepted it
            done += bool(store.replay(letter.id, from_another_process=True))
            advance(done, len(chosen))
        return done


def _not_shared(exc: BrokerNotShared) -> CliError:
    return CliError(
        f"not replayed: {exc}",
        hint='set [brokers.default] provider = "database" (or "redis") in domain.toml',
    )


@app.command()
def replay(
    letter_id: IdArgument = None,
    every: AllOption = False,
    domain: DomainOption = None,
    subscription: SubscriptionOption = None,
) -> None:
    """Send dead letters back to their subscription (after fixing the cause).

    The message goes through the domain's broker to the server's consumers;
    the letter is deleted only once the broker accepted it. With a broker
    that lives inside the server's process (inline) nothing is sent: the
    command fails and the letter stays.
    """
    _exactly_one(letter_id, every, "replay")
    loaded = load_domain(domain)
    store = _store(loaded)
    scope, letters = _scope(loaded, store, subscription)
    try:
        if every:
            count = _replay_many(loaded, store, scope, letters)
            success(f"replayed {count} dead letter{'s' if count != 1 else ''}")
            return
        with loaded.domain_context():
            letter = _resolve(store, str(letter_id))
            if letter is None or not scope.admits(letter):
                raise _unknown(letter_id)
            if not store.replay(letter.id, from_another_process=True):
                raise _unknown(letter_id)
    except BrokerNotShared as exc:
        raise _not_shared(exc) from exc
    success(f"replayed dead letter {escape(str(letter.id))}")


@app.command("replay-all")
def replay_all(
    subscription: Annotated[
        str,
        typer.Option(
            "--subscription",
            "-s",
            help="The subscription (handler name or class name) or stream category to replay.",
        ),
    ],
    domain: DomainOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replay every dead letter of one subscription or stream category (Protean's dlq replay-all)."""
    loaded = load_domain(domain)
    store = _store(loaded)
    scope, letters = _scope(loaded, store, subscription)
    confirm(f"Replay every dead letter{scope.describe()} in domain {loaded.name!r}?", yes)
    try:
        count = _replay_many(loaded, store, scope, letters)
    except BrokerNotShared as exc:
        raise _not_shared(exc) from exc
    success(f"replayed {count} dead letter{'s' if count != 1 else ''}")


@app.command()
def purge(
    letter_id: IdArgument = None,
    every: AllOption = False,
    domain: DomainOption = None,
    subscription: SubscriptionOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete dead letters for good (messages that cannot be recovered).

    ``purge --subscription S`` without an id purges all of ``S`` (Protean's form).
    """
    every = every or (letter_id is None and bool(subscription))
    _exactly_one(letter_id, every, "purge")
    loaded = load_domain(domain)
    store = _store(loaded)
    scope, letters = _scope(loaded, store, subscription)
    if every:
        confirm(f"Delete every dead letter{scope.describe()} in domain {loaded.name!r}?", yes)
        with loaded.domain_context():
            if scope.category is None:
                count = int(store.purge_all(subscription=scope.subscription))
            else:
                count = sum(bool(store.purge(x.id)) for x in letters if scope.admits(x))
        success(f"purged {count} dead letter{'s' if count != 1 else ''}")
        return
    with loaded.domain_context():
        letter = _resolve(store, str(letter_id))
    if letter is None or not scope.admits(letter):
        raise _unknown(letter_id)
    confirm(f"Delete dead letter {letter.id!r}?", yes)
    with loaded.domain_context():
        if not store.purge(letter.id):
            raise _unknown(letter_id)
    success(f"purged dead letter {escape(str(letter.id))}")
