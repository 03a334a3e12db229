"""``archipel eventstore verify``: a clean store passes, each kind of damage is named (real SQLite)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from archipel import BaseAggregate, BaseEvent, Domain, apply
from archipel.cli.eventstore import verify_log
from archipel.fields import Identifier, Integer
from tests.cli.conftest import cli_env, run_cli


def _ledger(path: Path) -> tuple[Domain, type, type]:
    uri = f"sqlite:///{path}"
    domain = Domain(
        name="VerifyLedger",
        config={"databases": {"default": {"provider": "sqlite", "database_uri": uri}},
                "event_store": {"provider": "sqlite"}, "snapshot_threshold": 0},
    )

    @domain.aggregate(is_event_sourced=True)
    class Tally(BaseAggregate):
        count = Integer(default=0)

        @apply
        def added(self, event: Added) -> None:
            self.count += 1

    @domain.event(part_of=Tally)
    class Added(BaseEvent):
        tally_id = Identifier(required=True)

    domain.init(traverse=False)
    return domain, Tally, Added


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    path = tmp_path / "ledger.db"
    domain, tally_cls, added = _ledger(path)
    ids = []
    with domain.domain_context():
        domain.setup_database()
        for events in (3, 2):
            tally = tally_cls()
            for _ in range(events):
                tally.raise_(added(tally_id=tally.id))
            domain.repository_for(tally_cls).add(tally)
            ids.append(str(tally.id))
        domain.create_snapshot(tally_cls, ids[0])
    yield domain, path, ids
    domain.shutdown()


def _verify(domain: Domain) -> Any:
    with domain.domain_context():
        return verify_log(domain.event_store)


def _sql(path: Path, statement: str, *args: Any) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute(statement, args).rowcount >= 1


def test_a_clean_store_passes(ledger):
    domain, _, _ = ledger
    found = _verify(domain)
    assert found.clean and found.violations == []
    assert found.messages == 6 and found.streams == 3  # 5 events, 1 snapshot; 2 tallies + 1 snapshot stream


def test_a_gap_in_a_stream_is_named(ledger):
    domain, path, ids = ledger
    _sql(path, "UPDATE archipel_events SET position = 7 WHERE stream = ? AND position = 2",
         f"verify_ledger::tally-{ids[0]}")
    found = _verify(domain)
    assert [(v["check"], v["stream"]) for v in found.violations] == [
        ("gapless streams", f"verify_ledger::tally-{ids[0]}")
    ]
    assert "position 7 where 2 was expected (gap)" in found.violations[0]["detail"]


def test_a_snapshot_ahead_of_its_stream_is_named(ledger):
    domain, path, ids = ledger
    _sql(path, "UPDATE archipel_events SET data = json_set(data, '$.version', 9) WHERE stream LIKE ?",
         "%:snapshot-%")
    found = _verify(domain)
    assert [v["check"] for v in found.violations] == ["snapshots not ahead"]
    assert f"stream verify_ledger::tally-{ids[0]} ends at 2" in found.violations[0]["detail"]


def test_positions_out_of_log_order_are_named(ledger):
    domain, path, ids = ledger
    stream = f"verify_ledger::tally-{ids[1]}"
    for old, new in ((0, 5), (1, 0), (5, 1)):  # swap the stream's two events' positions
        _sql(path, "UPDATE archipel_events SET position = ? WHERE stream = ? AND position = ?",
             new, stream, old)
    found = _verify(domain)
    assert [v["detail"] for v in found.violations] == [
        "position 1 where 0 was expected (gap)",
        "position 0 where 2 was expected (repeated)",
    ]


def test_the_cli_exits_1_on_damage_and_0_when_clean(tmp_path):
    db = tmp_path / "shelf.db"
    env = cli_env(DURABLE_SHELF_DB=str(db), DURABLE_SHELF_BROKER="database")
    assert run_cli("db", "setup", "--domain", "durable_shelf", env=env).returncode == 0
    fresh = run_cli("eventstore", "verify", "--domain", "durable_shelf", env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert "event store consistent — 0 message(s) in 0 stream(s)" in fresh.stdout
    sent = run_cli("shell", "--domain", "durable_shelf", env=env,
                   input="domain.process(domain.elements['SendParcel'](label='books'))\n")
    assert sent.returncode == 0, sent.stderr
    clean = json.loads(run_cli("eventstore", "verify", "--domain", "durable_shelf", "--json", env=env).stdout)
    assert clean["clean"] is True and clean["messages"] >= 2
    _sql(db, "UPDATE archipel_events SET position = 4 WHERE global_position = "
             "(SELECT max(global_position) FROM archipel_events)")
    damaged = run_cli("eventstore", "verify", "--domain", "durable_shelf", env=env)
    assert damaged.returncode == 1
    assert "gapless streams" in damaged.stdout and "1 violation(s)" in damaged.stderr
    shaped = json.loads(run_cli("eventstore", "verify", "--domain", "durable_shelf", "--json", env=env).stdout)
    assert shaped["clean"] is False and shaped["violations"][0]["check"] == "gapless streams"


def test_a_store_never_set_up_is_clean_and_stays_untouched(tmp_path):
    db = tmp_path / "never.db"
    env = cli_env(DURABLE_SHELF_DB=str(db), DURABLE_SHELF_BROKER="database")
    result = run_cli("eventstore", "verify", "--domain", "durable_shelf", env=env)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
