"""``archipel subscriptions status``: every handler's subscription and its health.

Below the table, one line per process manager with deadlines: how many are
pending (and when the next is due), fired, cancelled and failed; ``--json``
adds them as ``"deadlines"`` (:mod:`archipel.handling.deadline_status`).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Group
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from archipel.cli import _engine
from archipel.cli._console import out
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.handling.deadline_status import DEADLINE_STATES, deadline_status
from archipel.observatory.shapes import subscription_json

__all__ = ["app", "health_of"]

app = typer.Typer(help="Check the health of the domain's subscriptions.", no_args_is_help=True)


def _count(value: int | None) -> str:
    return "—" if value is None else str(value)


def health_of(row: Any) -> tuple[str, str]:
    """``(word, rich style)`` summarising one status row.

    ``failing``: dead letters; ``behind``: messages waiting; ``inline``: not
    run by the server (``active`` false: handled synchronously by the
    writer); ``unknown``: run by the server, the broker cannot tell its lag.
    """
    dlq, lag, pending = row.dlq_depth, row.lag, row.pending
    if dlq:
        return "failing", "bold red"
    if lag or pending:
        return "behind", "yellow"
    if getattr(row, "active", None) is False:
        return "inline", "cyan"
    if lag is None and pending is None:
        return "unknown", "dim"
    return "ok", "green"


def _table(title: str, rows: list[Any]) -> Table:
    table = Table(title=title, title_justify="left")
    # handler names are what people grep for: never truncate them
    table.add_column("subscription", style="bold", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("streams", style="magenta", overflow="fold")
    table.add_column("lag", justify="right", no_wrap=True)
    table.add_column("pending", justify="right", no_wrap=True)
    table.add_column("DLQ", justify="right", no_wrap=True)
    table.add_column("health", no_wrap=True)
    words = set()
    for row in rows:
        word, style = health_of(row)
        words.add(word)
        table.add_row(
            escape(str(row.name)),
            escape(str(row.kind).replace("_", " ")),
            escape(", ".join(row.streams) or "—"),
            _count(row.lag),
            _count(row.pending),
            _count(row.dlq_depth),
            f"[{style}]{word}[/]",
        )
    table.caption = _legend(words)
    table.caption_justify = "left"
    return table


def _legend(words: set[str]) -> str | None:
    notes = {
        "inline": "inline: handled in the writing process (sync processing), not by archipel server",
        "unknown": "unknown: run by archipel server; the broker cannot report its lag",
        "failing": "failing: has dead letters (archipel dlq list)",
    }
    shown = [notes[word] for word in ("inline", "unknown", "failing") if word in words]
    return "\n".join(shown) or None


def _stacked(title: str, rows: list[Any]) -> Group:
    # for terminals too narrow for the table: one block per subscription
    lines: list[str] = [title]
    words = set()
    for row in rows:
        word, style = health_of(row)
        words.add(word)
        lines.append(
            f"[bold]{escape(str(row.name))}[/]  {escape(str(row.kind).replace('_', ' '))}"
            f"  [{style}]{word}[/]"
        )
        lines.append(
            f"  streams [magenta]{escape(', '.join(row.streams) or '—')}[/]  "
            f"lag {_count(row.lag)} · pending {_count(row.pending)} · DLQ {_count(row.dlq_depth)}"
        )
    legend = _legend(words)
    if legend:
        lines.append(f"[dim]{escape(legend)}[/]")
    return Group(*lines)


@app.command()
def status(domain: DomainOption = None, as_json: JsonOption = False) -> None:
    """Show each subscription: kind, streams, lag, pending messages, dead letters;
    then the process managers' deadlines (pending, next due, fired, cancelled, failed)."""
    loaded = load_domain(domain)
    with loaded.domain_context():
        rows = _engine.subscription_status(loaded)
        deadlines = deadline_status(loaded)
    if as_json:
        shaped = [subscription_json(row, health_of(row)[0]) for row in rows]
        print_json({"domain": loaded.name, "subscriptions": shaped, "source": "engine", "deadlines": deadlines})
        return
    console = out()
    if not rows:
        console.print(f"Domain {escape(loaded.name)} has no subscriptions (no handlers registered)")
        return
    title = f"{loaded.name}: {len(rows)} subscription(s)"
    table = _table(title, rows)
    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    console.print(table if needed <= console.width else _stacked(escape(title), rows))
    _print_deadlines(deadlines)


def _print_deadlines(found: dict[str, Any]) -> None:
    """One line per process manager that has deadlines: counts per state, the next due."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    for pm in found["process_managers"]:
        if not any(pm[state] for state in DEADLINE_STATES):
            continue
        due = pm["next_due_at"]
        when = "" if due is None else f", next in {_seconds_until(due, now):.0f}s"
        failed = f", [red]{pm['failed']} failed[/] (see their error)" if pm["failed"] else ""
        out().print(
            f"deadlines of {escape(pm['name'])}: {pm['pending']} pending{when}; "
            f"{pm['fired']} fired, {pm['cancelled']} cancelled{failed}"
        )


def _seconds_until(iso: str, now: Any) -> float:
    import datetime as dt

    seconds: float = (dt.datetime.fromisoformat(iso) - now).total_seconds()
    return max(0.0, seconds)
