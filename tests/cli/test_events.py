"""``archipel events trace|list``."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from archipel.cli.events import causation_tree, short_time
from tests.cli.conftest import run_cli


def render(tree: Any) -> str:
    console = Console(width=200, no_color=True)
    with console.capture() as capture:
        console.print(tree)
    return capture.get()


def stored(id: str, cause: str | None, position: int, type: str = "T.E.v1") -> dict[str, Any]:
    return {
        "metadata": {
            "id": id, "causation_id": cause, "global_position": position, "type": type,
            "kind": "EVENT", "stream": "s-1", "time": "2026-01-31T12:00:05.123456+00:00",
        },
        "data": {},
    }


def test_trace_on_an_empty_store_says_there_is_nothing_yet():
    # the seed runs `events trace` on a fresh domain: nothing yet is not a failure
    result = run_cli("events", "trace", "nothing-here", "--domain", "sample_shelf")
    assert result.returncode == 0, result.stderr
    assert "No messages with correlation id nothing-here" in result.stdout
    assert "empty (nothing yet)" in result.stdout


def test_trace_of_an_unknown_id_in_a_used_store(cli, shelf):
    from sample_shelf.books import AddBook

    with shelf.domain_context():
        shelf.process(AddBook(title="Dune"))
    result = cli("events", "trace", "nothing-here", "--domain", "sample_shelf")
    assert result.code == 1
    assert "no messages with correlation id 'nothing-here'" in result.err
    assert "archipel events list" in result.err


def test_trace_draws_the_causation_tree(cli, shelf):
    from sample_shelf.books import AddBook

    with shelf.domain_context():
        shelf.process(AddBook(title="Dune"))
    first = shelf.event_store.read_all()[0]["metadata"]
    result = cli("events", "trace", first["correlation_id"], "--domain", "sample_shelf")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "3 messages" in lines[0]
    command = next(i for i, line in enumerate(lines) if "CliShelf.AddBook.v1" in line)
    added = next(i for i, line in enumerate(lines) if "CliShelf.BookAdded.v1" in line)
    shelved = next(i for i, line in enumerate(lines) if "CliShelf.BookShelved.v1" in line)
    assert command < added < shelved
    indent = [len(lines[i]) - len(lines[i].lstrip(" │└├─")) for i in (command, added, shelved)]
    assert indent[0] < indent[1] < indent[2], "each message sits under its cause"


def test_tree_keeps_orphans_and_cuts_cycles():
    messages = [
        stored("a", None, 1, "T.Root.v1"),
        stored("b", "a", 2, "T.Child.v1"),
        stored("c", "elsewhere", 3, "T.Orphan.v1"),
        stored("x", "y", 4, "T.CycleX.v1"),
        stored("y", "x", 5, "T.CycleY.v1"),
    ]
    text = render(causation_tree("corr", messages))
    for name in ("Root", "Child", "Orphan", "CycleX", "CycleY"):
        assert f"T.{name}.v1" in text
    assert "5 messages" in text


def test_short_time():
    assert short_time("2026-01-31T12:00:05.123456+00:00") == "2026-01-31 12:00:05.123"
    assert short_time("2026-01-31T12:00:05.123456+02:00").endswith("+0200")
    assert short_time("yesterday") == "yesterday"
    assert short_time(None) == ""


def test_list_shows_latest_messages(cli, shelf):
    from sample_shelf.books import AddBook

    with shelf.domain_context():
        for title in ("A", "B", "C"):
            shelf.process(AddBook(title=title))
    everything = cli("events", "list", "--domain", "sample_shelf", "--limit", "4")
    assert everything.code == 0, everything.err
    assert everything.out.count("CliShelf.") == 4  # the last four of nine messages
    assert "latest 4" in everything.out
    by_category = cli("events", "list", "--domain", "sample_shelf", "--category", "cli_shelf::book")
    assert by_category.out.count("CliShelf.BookAdded.v1") == 3
    assert "CliShelf.AddBook.v1" not in by_category.out
    stream = shelf.event_store.read_all()[1]["metadata"]["stream"]
    one = cli("events", "list", "--domain", "sample_shelf", "--stream", stream)
    assert one.out.count("CliShelf.") == 2


def test_list_empty_and_exclusive_options(cli, shelf):
    assert "No messages in the event store" in cli("events", "list", "--domain", "sample_shelf").out
    both = cli("events", "list", "--domain", "sample_shelf", "--stream", "a", "--category", "b")
    assert both.code == 2
    assert "exclusive" in both.err


def test_events_list_fits_80_columns(cli, shelf, monkeypatch):
    from sample_shelf.books import AddBook

    with shelf.domain_context():
        shelf.process(AddBook(title="Dune"))
        message = shelf.event_store.read_all()[-1]
    monkeypatch.setenv("COLUMNS", "80")
    narrow = cli("events", "list", "--domain", "sample_shelf")
    assert narrow.code == 0, narrow.err
    assert max(len(line) for line in narrow.out.splitlines()) <= 80
    message_id = message["metadata"]["id"]
    assert message_id[:8] in narrow.out and message_id not in narrow.out
    assert message_id in cli("events", "list", "--wide", "--domain", "sample_shelf").out
