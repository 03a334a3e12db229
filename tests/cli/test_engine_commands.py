"""``dlq``, ``subscriptions status`` and ``server`` against a stand-in engine.

The engine is another module's job; these tests pin the CLI side of the
contract (``archipel.engine.dlq.dead_letter_store``,
``archipel.engine.status.subscription_status``, ``archipel.engine.run_server``)
by replacing the three functions of :mod:`archipel.cli._engine`.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from archipel.cli import _engine
from archipel.cli.dlq import error_summary


@dataclass
class Letter:
    id: str
    subscription: str
    message_id: str = "m-1"
    type: str = "CliShelf.BookAdded.v1"
    stream: str = "cli_shelf::book-1"
    payload: dict[str, Any] = field(default_factory=lambda: {"metadata": {"id": "m-1"}, "data": {"title": "Dune"}})
    error: str = "ValueError: the shelf is full\nsecond line"
    attempts: int = 3
    first_failed_at: dt.datetime = dt.datetime(2026, 1, 31, 12, 0, 0, tzinfo=dt.UTC)
    last_failed_at: dt.datetime = dt.datetime(2026, 1, 31, 12, 0, 9, tzinfo=dt.UTC)


class FakeStore:
    def __init__(self, letters: list[Letter]) -> None:
        self.letters = {letter.id: letter for letter in letters}
        self.replayed: list[str] = []

    def _of(self, subscription: str | None) -> list[Letter]:
        return [x for x in self.letters.values() if subscription in (None, x.subscription)]

    def list(self, subscription: str | None = None, limit: int = 100) -> list[Letter]:
        return self._of(subscription)[:limit]

    def get(self, id: str) -> Letter | None:
        return self.letters.get(id)

    def replay(self, id: str, **_: Any) -> bool:
        if self.letters.pop(id, None) is None:
            return False
        self.replayed.append(id)
        return True

    def replay_all(self, subscription: str | None = None, **_: Any) -> int:
        ids = [x.id for x in self._of(subscription)]
        return sum(self.replay(i) for i in ids)

    def purge(self, id: str) -> bool:
        return self.letters.pop(id, None) is not None

    def purge_all(self, subscription: str | None = None) -> int:
        ids = [x.id for x in self._of(subscription)]
        return sum(self.purge(i) for i in ids)


@dataclass
class Status:
    name: str
    kind: str
    streams: list[str]
    lag: int | None
    pending: int | None
    dlq_depth: int | None
    active: bool = True


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore([Letter("dl-1", "ShelfCountProjector"), Letter("dl-2", "ShelvingEventHandler")])
    monkeypatch.setattr(_engine, "dead_letter_store", lambda domain: fake)
    return fake


def test_dlq_list_renders_a_table(cli, store):
    result = cli("dlq", "list", "--domain", "sample_shelf")
    assert result.code == 0, result.err
    for text in ("dl-1", "dl-2", "ShelfCountProjector", "CliShelf.BookAdded.v1", "2026-01-31 12:00:09"):
        assert text in result.out
    assert "second line" in result.out  # the last line of the error says what happened
    only = cli("dlq", "list", "--domain", "sample_shelf", "--subscription", "ShelvingEventHandler")
    assert "dl-2" in only.out and "dl-1" not in only.out


def test_error_summary_is_the_exception_line_of_a_traceback():
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: on strike\n'
    assert error_summary(traceback) == "RuntimeError: on strike"
    assert error_summary(None) == ""
    assert error_summary("x" * 200, width=10) == "x" * 9 + "…"


def test_dlq_list_empty(cli, monkeypatch):
    monkeypatch.setattr(_engine, "dead_letter_store", lambda domain: FakeStore([]))
    result = cli("dlq", "list", "--domain", "sample_shelf")
    assert result.code == 0
    assert "No dead letters" in result.out


def test_dlq_inspect_shows_payload_as_json(cli, store):
    result = cli("dlq", "inspect", "dl-1", "--domain", "sample_shelf")
    assert result.code == 0, result.err
    assert '"title": "Dune"' in result.out
    assert "ValueError: the shelf is full" in result.out
    missing = cli("dlq", "inspect", "nope", "--domain", "sample_shelf")
    assert missing.code == 1
    assert "no dead letter with id 'nope'" in missing.err


def test_dlq_replay_one_or_all(cli, store):
    assert cli("dlq", "replay", "dl-1", "--domain", "sample_shelf").code == 0
    assert store.replayed == ["dl-1"]
    assert cli("dlq", "replay", "dl-1", "--domain", "sample_shelf").code == 1
    everything = cli("dlq", "replay", "--all", "--domain", "sample_shelf")
    assert "replayed 1 dead letter" in everything.out
    assert store.replayed == ["dl-1", "dl-2"]


def test_dlq_replay_needs_an_id_or_all(cli, store):
    for args in (["dlq", "replay"], ["dlq", "replay", "dl-1", "--all"], ["dlq", "purge"]):
        result = cli(*args, "--domain", "sample_shelf")
        assert result.code == 2
        assert "--all" in result.err


def test_dlq_purge_confirms(cli, store):
    refused = cli("dlq", "purge", "--all", "--domain", "sample_shelf")
    assert refused.code == 2 and "--yes" in refused.err
    assert len(store.letters) == 2
    one = cli("dlq", "purge", "dl-1", "--yes", "--domain", "sample_shelf")
    assert one.code == 0 and "purged dead letter dl-1" in one.out
    rest = cli("dlq", "purge", "--all", "--subscription", "ShelvingEventHandler", "-y", "--domain", "sample_shelf")
    assert "purged 1 dead letter" in rest.out
    assert not store.letters


def test_subscriptions_status_table_does_not_truncate_names(cli, monkeypatch):
    rows = [
        Status("AVeryLongProjectorNameThatMustNotBeTruncatedAnywhere", "projector", ["cli_shelf::book"], 0, 0, 0),
        Status("ShelvingEventHandler", "event_handler", ["cli_shelf::book"], 12, 3, None),
        Status("Failing", "event_handler", ["a", "b"], 0, 0, 2),
        Status("Inline", "event_handler", [], None, None, None, active=False),
        Status("Unknown", "event_handler", ["x"], None, None, None),
    ]
    monkeypatch.setattr(_engine, "subscription_status", lambda domain: rows)
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("subscriptions", "status", "--domain", "sample_shelf")
    assert result.code == 0, result.err
    assert "AVeryLongProjectorNameThatMustNotBeTruncatedAnywhere" in result.out
    for word in ("ok", "behind", "failing", "inline", "unknown"):
        assert word in result.out


def test_subscriptions_status_without_handlers(cli, monkeypatch):
    monkeypatch.setattr(_engine, "subscription_status", lambda domain: [])
    assert "no subscriptions" in cli("subscriptions", "status", "--domain", "sample_shelf").out


def test_server_passes_options_and_exit_code(cli, monkeypatch):
    calls: list[dict[str, Any]] = []

    def fake_run_server(domain, **options):
        calls.append({"domain": domain.name, **options})
        return 3

    monkeypatch.setattr(_engine, "run_server", fake_run_server)
    result = cli(
        "server", "--domain", "sample_shelf", "--workers", "2", "--health-port", "8081", "--test-mode",
        "--metrics-port", "9464", "--log-format", "json",
    )
    assert result.code == 3
    assert calls == [
        {"domain": "CliShelf", "workers": 2, "health_port": 8081, "test_mode": True, "metrics_port": 9464}
    ]
    cli("server", "--domain", "sample_shelf")
    assert calls[-1] == {
        "domain": "CliShelf", "workers": 1, "health_port": None, "test_mode": False, "metrics_port": None
    }
    assert cli("server", "--domain", "sample_shelf", "--log-format", "xml").code == 2


def test_missing_engine_is_a_clean_error(cli, monkeypatch):
    # None in sys.modules makes `import archipel.engine.dlq` raise ImportError
    monkeypatch.setitem(sys.modules, "archipel.engine.dlq", None)
    result = cli("dlq", "list", "--domain", "sample_shelf")
    assert result.code == 1
    assert "engine is not available" in result.err
    assert "Traceback" not in result.err


LONG = Letter(
    "5ecd3a86-df7f-56c0-976f-687da81aae12",
    "examples.bookshelf.fulfillment.reservations.StockReservationProcessManager",
    type="Bookshelf.InventoryReservationRequested.v1",
    error="Traceback (most recent call last):\n  File 'x.py'\nInvalidOperation: " + "not enough stock " * 8,
)


def test_dlq_list_fits_80_columns_and_wide_shows_everything(cli, monkeypatch):
    fake = FakeStore([LONG, Letter("dl-2", "ShelvingEventHandler")])
    monkeypatch.setattr(_engine, "dead_letter_store", lambda domain: fake)
    monkeypatch.setenv("COLUMNS", "80")
    narrow = cli("dlq", "list", "--domain", "sample_shelf")
    assert narrow.code == 0, narrow.err
    assert max(len(line) for line in narrow.out.splitlines()) <= 80
    for text in ("5ecd3a86", "StockReserv", "InvalidOperation", "2026-01-31 12:00:09", "--wide"):
        assert text in narrow.out, text
    assert LONG.id not in narrow.out
    wide = cli("dlq", "list", "--wide", "--domain", "sample_shelf")
    flat = "".join(wide.out.split())
    for text in (LONG.id, LONG.subscription, LONG.type):
        assert text in flat, text
    # the short id shown is enough to act on
    shown = cli("dlq", "inspect", "5ecd3a86", "--domain", "sample_shelf")
    assert shown.code == 0 and "not enough stock" in shown.out
    assert cli("dlq", "replay", "5ecd3a86", "--domain", "sample_shelf").code == 0
    assert fake.replayed == [LONG.id]


def test_dlq_ids_prefixes_must_be_unique(cli, monkeypatch):
    fake = FakeStore([Letter("abcd-1", "A"), Letter("abcd-2", "B")])
    monkeypatch.setattr(_engine, "dead_letter_store", lambda domain: fake)
    result = cli("dlq", "inspect", "abcd", "--domain", "sample_shelf")
    assert result.code == 1 and "ambiguous" in result.err


def test_subscriptions_status_fits_80_columns(cli, monkeypatch):
    rows = [
        Status(LONG.subscription, "process_manager", ["bookshelf::inventory", "bookshelf::order"], 3, 1, 2),
        Status("ShelvingEventHandler", "event_handler", ["cli_shelf::book"], 0, 0, 0),
    ]
    monkeypatch.setattr(_engine, "subscription_status", lambda domain: rows)
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("subscriptions", "status", "--domain", "sample_shelf")
    assert result.code == 0, result.err
    assert max(len(line) for line in result.text.splitlines()) <= 80
    assert "StockReservationProcessManager" in result.out and "failing" in result.out
