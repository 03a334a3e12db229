"""``archipel events read|search|history|stats``: Protean's event-store commands.

The same names, arguments and options as ``protean events ...``, so an
operator's scripts port by renaming the command, plus ``--json`` (the
shapes below) like every archipel listing. They only read: on an event
store never set up they say there is nothing yet.

- ``read STREAM``: a stream (``shop::order-42``), a category (``shop::order``)
  or ``$all``; ``--from`` is inclusive: the stream position for a stream,
  the global position otherwise; ``--limit`` (20) messages from there on;
- ``search --type T``: every stored message whose type is ``T`` (a type
  string with dots: exactly) or contains it (no dots: any case), in log
  order, ``--category`` to narrow it; the first ``--limit`` are shown and
  the total is counted;
- ``history --aggregate A --id ID``: one aggregate's stream, oldest first,
  and the version of its latest snapshot when it has one;
- ``stats``: per aggregate, its stream category, whether it is event
  sourced, how many instances (streams) and messages it has, and the
  latest one.

``--data`` prints each message's payload as JSON; ``--trace`` adds the
correlation and causation ids. JSON: ``{"domain", "stream"|"type"|
"aggregate", "events": [{"position", "global_position", "type", "kind",
"stream", "time", "id", "correlation_id", "causation_id", "data"}], ...}``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from archipel.cli._console import CliError, out
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.cli.events import pages, short_time
from archipel.domain.domain import Domain
from archipel.errors import SchemaMissingError
from archipel.handling.snapshots import snapshot_stream
from archipel.port.event_store import StoredMessage

__all__ = ["history", "read", "search", "stats"]

ALL = "$all"

DataOption = Annotated[bool, typer.Option("--data/--no-data", help="Show each message's data as JSON.")]
TraceOption = Annotated[
    bool, typer.Option("--trace/--no-trace", help="Show correlation and causation ids.")
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")]


def _meta(message: StoredMessage) -> dict[str, Any]:
    meta = message.get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


def _is_snapshot(message: StoredMessage) -> bool:
    return str(_meta(message).get("type") or "").endswith(".snapshot")


def _category(stream: str) -> str:
    return stream.partition("-")[0]


def _shape(message: StoredMessage) -> dict[str, Any]:
    meta = _meta(message)
    return {
        "position": meta.get("position"),
        "global_position": meta.get("global_position"),
        "type": meta.get("type"),
        "kind": meta.get("kind"),
        "stream": meta.get("stream"),
        "time": meta.get("time"),
        "id": meta.get("id"),
        "correlation_id": meta.get("correlation_id"),
        "causation_id": meta.get("causation_id"),
        "data": message.get("data"),
    }


def _keys(data: Any) -> str:
    if not isinstance(data, dict) or not data:
        return "-"
    names = list(data)
    return ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")


def _table(
    messages: list[StoredMessage], title: str, *, stream: bool, data: bool, trace: bool
) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("pos", justify="right", style="cyan", no_wrap=True)
    table.add_column("global", justify="right", style="dim", no_wrap=True)
    table.add_column("type", style="bold", overflow="fold")
    if stream:
        table.add_column("stream", style="magenta", overflow="fold")
    table.add_column("time", no_wrap=True)
    if trace:
        table.add_column("correlation", style="yellow", overflow="fold")
        table.add_column("causation", style="dim yellow", overflow="fold")
    if not data:
        table.add_column("data keys", style="dim", overflow="fold")
    for message in messages:
        meta = _meta(message)
        row = [str(meta.get("position", "")), str(meta.get("global_position") or ""),
               escape(str(meta.get("type")))]
        if stream:
            row.append(escape(str(meta.get("stream"))))
        row.append(short_time(meta.get("time")))
        if trace:
            row += [escape(str(meta.get("correlation_id") or "")),
                    escape(str(meta.get("causation_id") or ""))]
        if not data:
            row.append(escape(_keys(message.get("data"))))
        table.add_row(*row)
    return table


def _print_data(messages: list[StoredMessage]) -> None:
    console = out()
    for message in messages:
        meta = _meta(message)
        console.print(
            f"\n[bold]{escape(str(meta.get('type')))}[/] "
            f"[dim]position {meta.get('position')} of {escape(str(meta.get('stream')))}[/]"
        )
        console.print_json(msgspec.json.encode(message.get("data")).decode())


def _show(
    messages: list[StoredMessage], title: str, *, stream: bool, data: bool, trace: bool
) -> None:
    out().print(_table(messages, title, stream=stream, data=data, trace=trace))
    if data:
        _print_data(messages)


def _read(store: Any, stream: str, start: int, limit: int) -> list[StoredMessage]:
    if stream != ALL and stream != _category(stream):
        rows = store.read_stream(stream, from_position=start)
        return [m for m in rows if not _is_snapshot(m)][:limit]
    found: list[StoredMessage] = []
    for page in pages(store, None if stream == ALL else stream, max(start - 1, 0)):
        found.extend(m for m in page if not _is_snapshot(m))
        if len(found) >= limit:
            break
    return found[:limit]


def read(
    stream: Annotated[
        str,
        typer.Argument(help="A stream (shop::order-42), a category (shop::order) or $all."),
    ],
    domain: DomainOption = None,
    start: Annotated[
        int,
        typer.Option(
            "--from", min=0, help="First position to show (a stream's position, else the global one)."
        ),
    ] = 0,
    limit: LimitOption = 20,
    data: DataOption = False,
    trace: TraceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Read the messages of a stream, a category or $all from a position (Protean's events read)."""
    loaded = load_domain(domain)
    with loaded.domain_context():
        try:
            messages = _read(loaded.event_store, stream, start, limit)
        except SchemaMissingError:
            messages = []
    if as_json:
        print_json({"domain": loaded.name, "stream": stream, "from": start,
                    "events": [_shape(m) for m in messages]})
        return
    if not messages:
        out().print(f"No messages in {escape(stream)} from position {start} (nothing yet)")
        return
    _show(messages, f"{loaded.name}: {stream}", stream=stream == ALL or stream == _category(stream),
          data=data, trace=trace)
    out().print(f"\nShowing {len(messages)} message(s) from position {start}")


def _matches(wanted: str) -> Any:
    if "." in wanted:
        return lambda t: t == wanted
    lowered = wanted.lower()
    return lambda t: lowered in t.lower()


def search(
    type_name: Annotated[
        str, typer.Option("--type", help="A type string (Shop.Placed.v1) or part of one (placed).")
    ],
    domain: DomainOption = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Only this stream category.", show_default=False)
    ] = None,
    limit: LimitOption = 20,
    data: DataOption = False,
    trace: TraceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Find stored messages by type across streams, oldest first (Protean's events search)."""
    if not type_name.strip():
        raise CliError("--type is empty", hint="give a type, e.g. --type OrderPlaced", code=2)
    loaded = load_domain(domain)
    match = _matches(type_name.strip())
    shown: list[StoredMessage] = []
    total = 0
    with loaded.domain_context():
        try:
            for page in pages(loaded.event_store, category or None):
                for message in page:
                    if not _is_snapshot(message) and match(str(_meta(message).get("type") or "")):
                        total += 1
                        if len(shown) < limit:
                            shown.append(message)
        except SchemaMissingError:
            pass
    if as_json:
        print_json({"domain": loaded.name, "type": type_name, "total": total,
                    "events": [_shape(m) for m in shown]})
        return
    if not shown:
        out().print(f"No messages of type {escape(type_name)} (nothing yet)")
        return
    _show(shown, f"{loaded.name}: type {type_name}", stream=True, data=data, trace=trace)
    more = f" (showing the first {limit})" if total > limit else ""
    out().print(f"\nFound {total} message(s) of type {escape(type_name)}{more}")


def _aggregates(domain: Domain) -> dict[str, type]:
    return dict(domain.registry.of_kind("aggregate"))


def _aggregate(domain: Domain, name: str) -> type:
    aggregates = _aggregates(domain)
    found = aggregates.get(name) or next(
        (cls for cls in aggregates.values() if cls.__qualname__ == name), None
    )
    if found is None:
        raise CliError(
            f"no aggregate {name!r} in domain {domain.name!r}",
            hint="aggregates: " + (", ".join(sorted(aggregates)) or "none"),
        )
    return found


def _stream_category(cls: type) -> str:
    return str(cls._meta.stream_category)  # type: ignore[attr-defined]


def history(
    aggregate: Annotated[str, typer.Option("--aggregate", help="The aggregate's class name.")],
    identifier: Annotated[str, typer.Option("--id", help="The aggregate's identity.")],
    domain: DomainOption = None,
    data: DataOption = False,
    trace: TraceOption = False,
    as_json: JsonOption = False,
) -> None:
    """One aggregate's events, oldest first, and its latest snapshot (Protean's events history)."""
    loaded = load_domain(domain)
    cls = _aggregate(loaded, aggregate)
    stream = f"{_stream_category(cls)}-{identifier}"
    with loaded.domain_context():
        try:
            messages = [m for m in loaded.event_store.read_stream(stream) if not _is_snapshot(m)]
            snapshots = loaded.event_store.read_stream(
                snapshot_stream(_stream_category(cls), identifier)
            )
        except SchemaMissingError:
            messages, snapshots = [], []
    latest = snapshots[-1].get("data") if snapshots else None
    snapshot_at = latest.get("version") if isinstance(latest, dict) else None
    if as_json:
        print_json({"domain": loaded.name, "aggregate": aggregate, "id": identifier,
                    "stream": stream, "snapshot_version": snapshot_at,
                    "events": [_shape(m) for m in messages]})
        return
    if not messages:
        raise CliError(
            f"no events for {aggregate} {identifier!r} (stream {stream})",
            hint=f"list the latest with archipel events list --category {_stream_category(cls)}",
        )
    _show(messages, f"{aggregate} {identifier}", stream=False, data=data, trace=trace)
    out().print(f"\n{len(messages)} event(s); latest position {_meta(messages[-1]).get('position')}")
    if snapshot_at is not None:
        out().print(f"Snapshot at version {snapshot_at}")


def stats(domain: DomainOption = None, as_json: JsonOption = False) -> None:
    """Per aggregate: its stream category, instances, messages and the latest (Protean's events stats)."""
    loaded = load_domain(domain)
    rows: list[dict[str, Any]] = []
    with loaded.domain_context():
        store = loaded.event_store
        for name, cls in sorted(_aggregates(loaded).items()):
            category = _stream_category(cls)
            streams: set[str] = set()
            count, latest = 0, None
            try:
                for page in pages(store, category):
                    for message in page:
                        if not _is_snapshot(message):
                            count += 1
                            streams.add(str(_meta(message).get("stream")))
                            latest = message
            except SchemaMissingError:
                pass
            rows.append({
                "aggregate": name, "stream_category": category,
                "event_sourced": bool(getattr(cls._meta, "is_event_sourced", False)),  # type: ignore[attr-defined]
                "instances": len(streams), "events": count,
                "latest_type": _meta(latest).get("type") if latest else None,
                "latest_time": _meta(latest).get("time") if latest else None,
            })
    if as_json:
        print_json({"domain": loaded.name, "aggregates": rows,
                    "events": sum(r["events"] for r in rows),
                    "instances": sum(r["instances"] for r in rows)})
        return
    if not rows:
        out().print(f"No aggregates in domain {escape(loaded.name)}")
        return
    table = Table(title=f"{loaded.name}: streams", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for column, justify in (("aggregate", "left"), ("stream category", "left"), ("ES", "center"),
                            ("instances", "right"), ("events", "right"), ("latest type", "left"),
                            ("latest time", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(escape(row["aggregate"]), escape(row["stream_category"]),
                      "yes" if row["event_sourced"] else "no", str(row["instances"]),
                      str(row["events"]), escape(str(row["latest_type"] or "-")),
                      short_time(row["latest_time"]) or "-")
    out().print(table)
    out().print(f"\nTotal: {sum(r['events'] for r in rows)} event(s) across "
                f"{sum(r['instances'] for r in rows)} aggregate instance(s)")
