"""``archipel eventstore verify``: the event store's internal consistency (Protean's command).

Reads the whole log once, in global order, and checks:

- **gapless streams**: each stream's positions are 0, 1, 2, ... with no gap
  and no repeat;
- **one global order**: global positions strictly increase;
- **unique message ids**: no message id is stored twice;
- **snapshots not ahead**: an aggregate's latest snapshot was taken at a
  version its stream has reached.

It only reads (a store never set up is clean: nothing yet). Exit 0 when
clean, 1 when anything is found; ``--json`` gives ``{"domain", "clean",
"messages", "streams", "violations": [{"check", "stream", "detail"}]}``.
Backups and restores stay the database's own tooling: this checks what is
stored, not that it is all there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from archipel.cli._console import CliError, out, success
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.cli.events import pages
from archipel.errors import SchemaMissingError

__all__ = ["Verification", "app", "verify_log"]

app = typer.Typer(help="Check the event store's consistency.", no_args_is_help=True)

_SNAPSHOT = ":snapshot-"
#: violations listed in full; beyond it they are counted
_SHOWN = 1000


@dataclass
class Verification:
    """What :func:`verify_log` found: counts, and the violations (``check, stream, detail``)."""

    messages: int = 0
    streams: int = 0
    violations: list[dict[str, Any]] = field(default_factory=list)
    more: int = 0

    @property
    def clean(self) -> bool:
        """True when nothing was found."""
        return not self.violations

    def add(self, check: str, stream: str, detail: str) -> None:
        """Record one violation (the first :data:`_SHOWN` in full, the rest counted)."""
        if len(self.violations) < _SHOWN:
            self.violations.append({"check": check, "stream": stream, "detail": detail})
        else:
            self.more += 1


def _meta(message: Any) -> dict[str, Any]:
    meta = message.get("metadata") if isinstance(message, dict) else None
    return meta if isinstance(meta, dict) else {}


def verify_log(store: Any, progress: Callable[[int], None] | None = None) -> Verification:
    """Check ``store``'s log (see the module); ``progress(messages read)`` after each page."""
    found = Verification()
    last_position: dict[str, int] = {}
    seen_ids: set[str] = set()
    snapshots: dict[str, tuple[str, int]] = {}  # aggregate stream -> (snapshot stream, version)
    previous_global: int | None = None
    for page in pages(store):
        for message in page:
            meta = _meta(message)
            stream = str(meta.get("stream") or "")
            position = meta.get("position")
            global_position = meta.get("global_position")
            found.messages += 1
            if isinstance(global_position, int):
                if previous_global is not None and global_position <= previous_global:
                    found.add("global order", stream,
                              f"global position {global_position} after {previous_global}")
                previous_global = global_position
            message_id = str(meta.get("id") or "")
            if message_id in seen_ids:
                found.add("unique ids", stream, f"message id {message_id} stored twice")
            seen_ids.add(message_id)
            expected = last_position.get(stream, -1) + 1
            if position != expected:
                kind = "repeated" if isinstance(position, int) and position < expected else "gap"
                found.add("gapless streams", stream,
                          f"position {position} where {expected} was expected ({kind})")
            if isinstance(position, int):
                last_position[stream] = max(position, last_position.get(stream, -1))
            if _SNAPSHOT in stream:
                data = message.get("data") if isinstance(message, dict) else None
                version = data.get("version") if isinstance(data, dict) else None
                if isinstance(version, int):
                    category, _, identity = stream.partition(_SNAPSHOT)
                    snapshots[f"{category}-{identity}"] = (stream, version)
        if progress is not None:
            progress(found.messages)
    for aggregate_stream, (snapshot_stream, version) in sorted(snapshots.items()):
        reached = last_position.get(aggregate_stream, -1)
        if version > reached:
            found.add("snapshots not ahead", snapshot_stream,
                      f"snapshot at version {version}, stream {aggregate_stream} ends at {reached}")
    found.streams = len(last_position)
    return found


@contextmanager
def _spinner() -> Iterator[Callable[[int], None]]:
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("reading the log")

        def advance(count: int) -> None:
            bar.update(task, description=f"read {count} messages")

        yield advance


@app.command()
def verify(domain: DomainOption = None, as_json: JsonOption = False) -> None:
    """Check the event store's consistency (reads only); exit 1 when anything is found.

    Gapless stream positions, strictly increasing global positions, unique
    message ids, and no snapshot ahead of its aggregate's stream.
    """
    loaded = load_domain(domain)
    with loaded.domain_context(), _spinner() as advance:
        try:
            found = verify_log(loaded.event_store, advance)
        except SchemaMissingError:
            found = Verification()
    if as_json:
        print_json({"domain": loaded.name, "clean": found.clean, "messages": found.messages,
                    "streams": found.streams, "violations": found.violations,
                    "more_violations": found.more})
        if not found.clean:
            raise typer.Exit(1)
        return
    summary = f"{found.messages} message(s) in {found.streams} stream(s)"
    if found.clean:
        success(f"[bold]{escape(loaded.name)}[/]: event store consistent — {summary}")
        return
    console = out()
    for violation in found.violations:
        console.print(f"[red]{escape(violation['check'])}[/] {escape(violation['stream'])}: "
                      f"{escape(violation['detail'])}")
    extra = f" (and {found.more} more)" if found.more else ""
    raise CliError(
        f"event store of {loaded.name} is inconsistent: {len(found.violations)} violation(s)"
        f"{extra} in {summary}",
        hint="restore from a backup, or ask for help with the output of --json",
    )
