"""``archipel snapshot create`` and ``archipel projection rebuild|status``."""

from __future__ import annotations

from typing import Any

from tests.cli.conftest import run_cli


def _loans(shelf: Any, count: int, renewals: int) -> list[str]:
    from sample_shelf.loans import Lent, Loan, Renewed

    ids = []
    with shelf.domain_context():
        for _ in range(count):
            loan = Loan()
            loan.raise_(Lent(loan_id=loan.id))
            for _ in range(renewals):
                loan.raise_(Renewed(loan_id=loan.id))
            shelf.repository_for(Loan).add(loan)
            ids.append(str(loan.id))
    return ids


def _snapshots(shelf: Any, identity: str) -> list[dict[str, Any]]:
    from sample_shelf.loans import Loan

    stream = f"{Loan._meta.stream_category}:snapshot-{identity}"
    with shelf.domain_context():
        return [s["data"] for s in shelf.event_store.read_stream(stream)]


def test_snapshot_create_for_one_instance_then_all(cli, shelf):
    first, second = _loans(shelf, 2, 3)
    result = cli("snapshot", "create", "--domain", "sample_shelf", "--aggregate", "Loan", "--identifier", first)
    assert result.code == 0, result.text
    assert "created" in result.text
    assert _snapshots(shelf, first)[-1]["version"] == 3 and _snapshots(shelf, second) == []
    result = cli("snapshot", "create", "--domain", "sample_shelf")
    assert result.code == 0, result.text
    assert "Loan" in result.text and "1 snapshot created" in result.text
    assert _snapshots(shelf, second)[-1]["state"]["renewals"] == 3


def test_snapshot_create_names_what_is_wrong():
    result = run_cli("snapshot", "create", "--domain", "sample_shelf", "--aggregate", "Book")
    assert result.returncode != 0
    assert "'Book' is not an event-sourced aggregate" in result.stderr and "Loan" in result.stderr
    result = run_cli("snapshot", "create", "--domain", "sample_shelf", "--identifier", "x")
    assert result.returncode != 0 and "--identifier needs --aggregate" in result.stderr


def test_projection_rebuild_then_status(cli, shelf):
    from sample_shelf.books import AddBook, ShelfCount

    with shelf.domain_context():
        for title in ("Dune", "Emma", "Ulysses"):
            shelf.process(AddBook(title=title))
        repo = shelf.repository_for(ShelfCount)
        row = repo.get("main")
        row.books = 0
        repo.add(row)
    status = cli("projection", "status", "--domain", "sample_shelf")
    assert status.code == 0, status.text
    assert "ShelfCount" in status.text and "never" in status.text
    result = cli("projection", "rebuild", "--domain", "sample_shelf", "--projection", "ShelfCount")
    assert result.code == 0, result.text
    assert "rebuilt 1 projection from 3 events" in result.text
    with shelf.domain_context():
        assert shelf.query_for(ShelfCount).get("main").books == 3
    status = cli("projection", "status", "--domain", "sample_shelf")
    line = next(line for line in status.text.splitlines() if "ShelfCount" in line)
    assert "done" in line
    words = line.split("│") if "│" in line else line.split()
    assert any(w.strip() == "0" for w in words)  # nothing behind the head


def test_projection_rebuild_of_an_unknown_projection():
    result = run_cli("projection", "rebuild", "--domain", "sample_shelf", "--projection", "Nope")
    assert result.returncode != 0
    assert "'Nope' is not a projection" in result.stderr and "ShelfCount" in result.stderr


def test_schema_dump_then_check(tmp_path):
    path = tmp_path / "shelf.json"
    dump = run_cli("schema", "dump", "--domain", "sample_shelf", "--file", str(path))
    assert dump.returncode == 0, dump.stderr
    assert "CliShelf.AddBook.v1" in path.read_text()
    check = run_cli("schema", "check", "--domain", "sample_shelf", "--file", str(path))
    assert check.returncode == 0 and "matches" in check.stdout
    missing = run_cli("schema", "check", "--domain", "sample_shelf", "--file", str(tmp_path / "none.json"))
    assert missing.returncode == 1 and "schema dump" in missing.stderr


def test_subscriptions_status_shows_pending_deadlines(cli, shelf, monkeypatch):
    import time

    from archipel.handling.deadlines import deadline_schema

    with shelf.domain_context():
        schema = deadline_schema(shelf)
        database = shelf.providers.database("default")
        database.setup([schema])
        tx = database.begin()
        tx.save(schema, {"id": "d1", "kind": "deadline", "process_manager": "CheckoutPM", "correlation": "o1",
                         "message_type": "CliShelf.Overdue.v1", "message": {}, "due_at": time.time() + 120,
                         "state": "pending", "sequence": 1, "attempts": 0, "error": None}, -1)
        tx.commit()
    result = cli("subscriptions", "status", "--domain", "sample_shelf")
    assert result.code == 0, result.text
    assert "deadlines of CheckoutPM: 1 pending, next in 1" in result.text
