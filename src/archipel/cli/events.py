"""``archipel events trace|list``: read the event store.

``trace`` follows one correlation id: every message caused, directly or
not, by one original request, drawn as the tree of causation ids.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

import typer
from rich import box
from rich.console import OverflowMethod
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from archipel.cli._console import CliError, UsageError, out
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.cli.dlq import print_table
from archipel.errors import SchemaMissingError
from archipel.handling.decoding import current_type
from archipel.port.event_store import StoredMessage

__all__ = ["app", "causation_tree", "pages", "short_time", "tail"]

app = typer.Typer(help="Inspect stored events and commands.", no_args_is_help=True)

_PAGE = 1000


def _meta(message: StoredMessage) -> dict[str, Any]:
    meta = message.get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


def short_time(value: Any) -> str:
    """``2026-01-31 12:00:05.123`` from an ISO timestamp (as stored); other values as text."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    zone = "" if moment.utcoffset() in (None, dt.timedelta(0)) else moment.strftime(" %z")
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + zone


def _label(message: StoredMessage, current: Callable[[str], str | None] | None = None) -> str:
    # two lines: what happened (kind, type, stream), then when and which message
    meta = _meta(message)
    kind = str(meta.get("kind") or "EVENT").upper()
    colour = "yellow" if kind == "COMMAND" else "cyan"
    type_string = str(meta.get("type"))
    now = current(type_string) if current is not None else None
    upcast = f" [green]-> {escape(now)}[/]" if now and now != type_string else ""
    return (
        f"[bold {colour}]{escape(kind.lower())}[/] [bold]{escape(type_string)}[/]{upcast}"
        f"  [magenta]{escape(str(meta.get('stream')))}[/]\n"
        f"[dim]{escape(short_time(meta.get('time')))}  id {escape(str(meta.get('id')))}[/]"
    )


def causation_tree(
    correlation_id: str,
    messages: Iterable[StoredMessage],
    current: Callable[[str], str | None] | None = None,
) -> Tree:
    """A Rich tree of ``messages``: each under the message that caused it.

    ``current(type)`` names the registered type an old version is upcast to
    when read (shown as ``Shop.Placed.v1 -> Shop.Placed.v3``).

    Messages whose cause is not among them (the original request, or a
    cause stored elsewhere) hang from the root; a cycle in bad data is cut
    rather than followed forever.
    """
    ordered = sorted(messages, key=lambda m: _meta(m).get("global_position") or 0)
    ids = {_meta(m).get("id") for m in ordered}
    children: dict[Any, list[StoredMessage]] = {}
    roots: list[StoredMessage] = []
    for message in ordered:
        cause = _meta(message).get("causation_id")
        if cause and cause in ids and cause != _meta(message).get("id"):
            children.setdefault(cause, []).append(message)
        else:
            roots.append(message)
    count = len(ordered)
    tree = Tree(
        f"[bold]correlation[/] {escape(correlation_id)} "
        f"[dim]({count} message{'s' if count != 1 else ''})[/]"
    )
    seen: set[Any] = set()

    def attach(node: Tree, message: StoredMessage) -> None:
        message_id = _meta(message).get("id")
        seen.add(message_id)
        branch = node.add(_label(message, current))
        for child in children.get(message_id, []):
            if _meta(child).get("id") not in seen:
                attach(branch, child)

    for root in roots:
        attach(tree, root)
    # messages only reachable through a cycle: show them rather than hide them
    for message in ordered:
        if _meta(message).get("id") not in seen:
            attach(tree, message)
    return tree


@app.command()
def trace(
    correlation_id: Annotated[str, typer.Argument(help="The correlation id to follow.")],
    domain: DomainOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every message of one correlation id as a causation tree (reads only).

    An id with no message exits 1, naming it; on an empty (or never set up) event store
    it says there is nothing yet and exits 0.
    """
    loaded = load_domain(domain)
    if as_json:
        from archipel.observatory.collect import DomainWatch
        from archipel.observatory.trace import trace_json

        print_json(trace_json([DomainWatch(loaded)], correlation_id))
        return
    with loaded.domain_context():
        try:
            messages = loaded.event_store.read_correlated(correlation_id)
            empty = not messages and not loaded.event_store.read_all(after_global=0, limit=1)
        except SchemaMissingError:
            messages, empty = [], True
    if not messages and empty:
        out().print(
            f"No messages with correlation id {escape(correlation_id)}: "
            f"the event store of {escape(loaded.name)} is empty (nothing yet)"
        )
        return
    if not messages:
        raise CliError(
            f"no messages with correlation id {correlation_id!r}",
            hint="list the latest with archipel events list",
        )
    out().print(causation_tree(correlation_id, messages, lambda t: current_type(loaded, t)))


def pages(store: Any, category: str | None = None, after: int = 0) -> Iterator[list[StoredMessage]]:
    """The log (or one category) in pages of up to 1000, from global position ``after`` (exclusive)."""
    while True:
        if category is None:
            page = store.read_all(after_global=after, limit=_PAGE)
        else:
            page = store.read_category(category, after_global=after, limit=_PAGE)
        if page:
            yield page
        if len(page) < _PAGE:
            return
        after = int(_meta(page[-1]).get("global_position") or after + len(page))


def tail(store: Any, limit: int, category: str | None = None) -> list[StoredMessage]:
    """The last ``limit`` messages of the store (or of one category), oldest first.

    The event store reads forward only, so this pages through and keeps the
    end; fine for a command run by hand.
    """
    kept: deque[StoredMessage] = deque(maxlen=limit)
    for page in pages(store, category):
        kept.extend(page)
    return list(kept)


@app.command("list")
def list_(
    domain: DomainOption = None,
    stream: Annotated[
        str | None, typer.Option("--stream", help="One stream, e.g. shop::order-42.", show_default=False)
    ] = None,
    category: Annotated[
        str | None,
        typer.Option("--category", help="One stream category, e.g. shop::order.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many (the latest).")] = 20,
    wide: Annotated[bool, typer.Option("--wide", help="Full ids and names.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the latest stored messages (all, one stream, or one category)."""
    if stream and category:
        raise UsageError("--stream and --category are exclusive", hint="give one of them")
    loaded = load_domain(domain)
    with loaded.domain_context():
        store = loaded.event_store
        try:
            if stream:
                messages = store.read_stream(stream)[-limit:]
            else:
                messages = tail(store, limit, category)
        except SchemaMissingError:
            messages = []  # never set up: nothing yet, and nothing created
    if as_json:
        from archipel.observatory.collect import event_json

        shaped = [event_json(m) for m in messages]
        last = shaped[-1]["position"] if shaped else None
        print_json({"domain": loaded.name, "events": shaped, "last_position": last})
        return
    where = f"stream {stream}" if stream else f"category {category}" if category else "the event store"
    if not messages:
        out().print(f"No messages in {escape(where)} (nothing yet)")
        return
    cut: OverflowMethod = "fold" if wide else "ellipsis"
    table = Table(
        title=f"{loaded.name}: latest {len(messages)} in {where}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=not wide,
        caption=None if wide else "full ids: --wide",
        caption_justify="left",
    )
    # fixed columns get their width, the others share the rest: nothing collapses to 0
    fixed = {"#": max(len(str(_meta(m).get("global_position") or "")) for m in messages) or 1,
             "time": max(len(short_time(_meta(m).get("time"))) for m in messages) or 1,
             "kind": 7}
    table.add_column("#", justify="right", style="dim", no_wrap=True, width=None if wide else fixed["#"])
    table.add_column("time", no_wrap=True, width=None if wide else fixed["time"])
    table.add_column("kind", no_wrap=True, width=None if wide else fixed["kind"])
    table.add_column("type", style="bold", overflow=cut, no_wrap=not wide, ratio=None if wide else 3)
    table.add_column("stream", style="magenta", overflow=cut, no_wrap=not wide, ratio=None if wide else 3)
    table.add_column("id", style="dim", no_wrap=True, width=None if wide else 8)
    for message in messages:
        meta = _meta(message)
        message_id = str(meta.get("id"))
        table.add_row(
            str(meta.get("global_position") or ""),
            short_time(meta.get("time")),
            str(meta.get("kind") or "").lower(),
            escape(str(meta.get("type"))),
            escape(str(meta.get("stream"))),
            escape(message_id if wide else message_id[:8]),
        )
    print_table(table, wide)
