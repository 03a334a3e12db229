"""``archipel events read|search|history|stats``: Protean's event-store commands."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.conftest import run_cli
from tests.cli.test_snapshot_and_projection import _loans


def _books(shelf: Any, *titles: str) -> list[str]:
    from sample_shelf.books import AddBook

    with shelf.domain_context():
        return [str(shelf.process(AddBook(title=t))) for t in titles]


def _json(result: Any) -> dict[str, Any]:
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_read_a_stream_from_a_position(cli, shelf):
    first, _ = _books(shelf, "Dune", "Emma")
    stream = f"cli_shelf::book-{first}"
    shown = _json(cli("events", "read", stream, "--domain", "sample_shelf", "--json"))
    assert [e["stream"] for e in shown["events"]] == [stream] * len(shown["events"])
    assert [e["position"] for e in shown["events"]] == list(range(len(shown["events"])))
    assert shown["events"][0]["type"] == "CliShelf.BookAdded.v1"
    assert shown["events"][0]["data"]["title"] == "Dune"
    later = _json(cli("events", "read", stream, "--from", "1", "--domain", "sample_shelf", "--json"))
    assert [e["position"] for e in later["events"]] == [e["position"] for e in shown["events"][1:]]

    table = cli("events", "read", stream, "--domain", "sample_shelf", "--trace")
    assert table.code == 0, table.err
    assert "CliShelf.BookAdded.v1" in table.text and "book_id, title" in table.text
    assert shown["events"][0]["correlation_id"] in table.text
    assert f"Showing {len(shown['events'])} message(s) from position 0" in table.text


def test_read_a_category_and_all_by_global_position(cli, shelf):
    _books(shelf, "Dune", "Emma", "Ulysses")
    everything = _json(cli("events", "read", "$all", "--domain", "sample_shelf", "--limit", "100", "--json"))
    positions = [e["global_position"] for e in everything["events"]]
    assert positions == sorted(positions) and len(positions) > 3
    books = _json(cli("events", "read", "cli_shelf::book", "--domain", "sample_shelf", "--json"))
    assert {e["stream"].rsplit("-", 5)[0] for e in books["events"]} == {"cli_shelf::book"}
    assert [e["type"] for e in books["events"]].count("CliShelf.BookAdded.v1") == 3
    # --from is the global position for a category (inclusive), --limit caps the count
    third = positions[2]
    tail = _json(cli("events", "read", "$all", "--from", str(third), "--limit", "2", "--domain",
                     "sample_shelf", "--json"))
    assert [e["global_position"] for e in tail["events"]] == positions[2:4]


def test_read_with_data_prints_each_payload(cli, shelf):
    (first,) = _books(shelf, "Dune")
    result = cli("events", "read", f"cli_shelf::book-{first}", "--domain", "sample_shelf", "--data")
    assert result.code == 0, result.err
    assert '"title": "Dune"' in result.text and "data keys" not in result.text


def test_read_of_nothing_says_so():
    # a fresh process: the sample's memory store is empty; nothing created, exit 0
    result = run_cli("events", "read", "cli_shelf::book-nope", "--domain", "sample_shelf")
    assert result.returncode == 0, result.stderr
    assert "No messages in cli_shelf::book-nope from position 0" in result.stdout


def test_search_by_exact_and_partial_type(cli, shelf):
    _books(shelf, "Dune", "Emma", "Ulysses")
    exact = _json(cli("events", "search", "--type", "CliShelf.BookAdded.v1", "--domain", "sample_shelf",
                      "--json"))
    assert exact["total"] == 3 and {e["type"] for e in exact["events"]} == {"CliShelf.BookAdded.v1"}
    partial = _json(cli("events", "search", "--type", "bookadded", "--limit", "2", "--domain",
                        "sample_shelf", "--json"))
    assert partial["total"] == 3 and len(partial["events"]) == 2
    narrowed = _json(cli("events", "search", "--type", "AddBook", "--category", "cli_shelf::book",
                         "--domain", "sample_shelf", "--json"))
    assert narrowed["total"] == 0  # commands live in cli_shelf::book:command
    table = cli("events", "search", "--type", "bookadded", "--limit", "2", "--domain", "sample_shelf")
    assert "Found 3 message(s) of type bookadded (showing the first 2)" in table.text
    nothing = cli("events", "search", "--type", "Nope", "--domain", "sample_shelf")
    assert nothing.code == 0 and "No messages of type Nope" in nothing.text


def test_history_of_an_event_sourced_aggregate_with_its_snapshot(cli, shelf):
    (loan,) = _loans(shelf, 1, renewals=3)
    shown = _json(cli("events", "history", "--aggregate", "Loan", "--id", loan, "--domain",
                      "sample_shelf", "--json"))
    assert [e["type"] for e in shown["events"]] == ["CliShelf.Lent.v1"] + ["CliShelf.Renewed.v1"] * 3
    assert shown["snapshot_version"] is None
    assert cli("snapshot", "create", "--domain", "sample_shelf", "--aggregate", "Loan",
               "--identifier", loan).code == 0
    table = cli("events", "history", "--aggregate", "Loan", "--id", loan, "--domain", "sample_shelf")
    assert table.code == 0, table.err
    assert "4 event(s); latest position 3" in table.text and "Snapshot at version 3" in table.text


def test_history_names_what_is_wrong(cli, shelf):
    unknown = cli("events", "history", "--aggregate", "Lone", "--id", "1", "--domain", "sample_shelf")
    assert unknown.code == 1 and "no aggregate 'Lone'" in unknown.err and "Book, Loan" in unknown.err
    missing = cli("events", "history", "--aggregate", "Loan", "--id", "nope", "--domain", "sample_shelf")
    assert missing.code == 1 and "no events for Loan 'nope'" in missing.err


def test_stats_counts_instances_and_messages_per_aggregate(cli, shelf):
    _books(shelf, "Dune", "Emma")
    _loans(shelf, 3, renewals=1)
    shown = _json(cli("events", "stats", "--domain", "sample_shelf", "--json"))
    by_name = {row["aggregate"]: row for row in shown["aggregates"]}
    assert by_name["Loan"]["instances"] == 3 and by_name["Loan"]["events"] == 6
    assert by_name["Loan"]["event_sourced"] is True and by_name["Book"]["event_sourced"] is False
    assert by_name["Book"]["instances"] == 2
    assert by_name["Loan"]["latest_type"] == "CliShelf.Renewed.v1"
    table = cli("events", "stats", "--domain", "sample_shelf")
    assert "cli_shelf::loan" in table.text and f"Total: {shown['events']} event(s)" in table.text


def test_read_gives_exactly_the_window_asked_for(cli, shelf):
    """``--from``/``--limit`` over a real stream: every window is the stored slice."""
    (loan,) = _loans(shelf, 1, renewals=6)  # positions 0..6
    stream = f"cli_shelf::loan-{loan}"
    for start in range(0, 9):
        for limit in (1, 2, 5, 20):
            shown = _json(cli("events", "read", stream, "--from", str(start), "--limit", str(limit),
                              "--domain", "sample_shelf", "--json"))
            assert [e["position"] for e in shown["events"]] == list(range(7))[start:start + limit]
