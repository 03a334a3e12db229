"""``archipel idempotency cleanup``: old processed-message records go, the others stay (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from archipel.engine.catchup import _write as write_catchup
from archipel.engine.marker_cleanup import cleanup_processed_messages
from archipel.errors import ConfigurationError
from tests.cli.conftest import SAMPLE, cli_env, run_cli

HOUR = 3600.0


@pytest.fixture(params=["sqlite", "postgresql"])
def shelf(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
        db = request.getfixturevalue("postgres_db_url")
    else:
        db = str(tmp_path / "shelf.db")
    monkeypatch.syspath_prepend(str(SAMPLE))
    import durable_shelf

    domain = durable_shelf.build(db, "database", str(tmp_path / "fixed"))
    domain.init()
    with domain.domain_context():
        domain.setup_database()
        domain.truncate_database()
    domain.cli_env = cli_env(DURABLE_SHELF_DB=db, DURABLE_SHELF_BROKER="database",  # type: ignore[attr-defined]
                             DURABLE_SHELF_FIXED=str(tmp_path / "fixed"))
    yield domain
    with domain.domain_context():
        domain.truncate_database()
    domain.shutdown()
    sys.modules.pop("durable_shelf", None)


def _mark(domain: Any, subscription: str, ages_in_hours: list[float]) -> None:
    """Processed records of ``subscription``, written ``ages`` hours ago."""
    db = domain.providers.database("default")
    tx = db.begin()
    for i, _ in enumerate(ages_in_hours):
        assert tx.mark_processed(subscription, f"{subscription}-m{i}")
    tx.commit()
    table, engine = db.processed, db.engine
    for i, age in enumerate(ages_in_hours):
        sql = engine.compile(table.update().where(table.c.message_id == f"{subscription}-m{i}")
                             .values(processed_at=time.time() - age * HOUR))
        engine.run(lambda conn, sql=sql: conn.execute(sql))


def _left(domain: Any) -> list[str]:
    db = domain.providers.database("default")
    sql = db.engine.compile(db.processed.select().with_only_columns(db.processed.c.message_id))
    return sorted(str(r[0]) for r in db.engine.run(lambda conn: conn.execute(sql).fetchall()))


def test_records_older_than_the_retention_are_deleted_in_batches(shelf):
    with shelf.domain_context():
        _mark(shelf, "Courier", [200, 170, 169, 100, 1, 0])
    result = run_cli("idempotency", "cleanup", "--domain", "durable_shelf", "--batch-size", "2", "--json",
                     env=shelf.cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["deleted"] == 3 and report["batches"] == 2 and report["retention_hours"] == 168
    assert _left(shelf) == ["Courier-m3", "Courier-m4", "Courier-m5"]
    result = run_cli("idempotency", "cleanup", "--domain", "durable_shelf", "--retention-hours", "24",
                     env=shelf.cli_env)
    assert result.returncode == 0 and "Deleted 1 idempotency marker(s)" in result.stdout
    assert _left(shelf) == ["Courier-m4", "Courier-m5"]
    result = run_cli("idempotency", "cleanup", "--domain", "durable_shelf", "--retention-hours", "24",
                     env=shelf.cli_env)
    assert result.returncode == 0 and "No idempotency markers to clean up." in result.stdout


def test_a_subscription_catching_up_keeps_its_records(shelf):
    with shelf.domain_context():
        _mark(shelf, "Courier", [500])
        _mark(shelf, "Other", [500])
        write_catchup(shelf, "Courier", state="running", events=0, position=0)
        found = cleanup_processed_messages(shelf)
        assert found.kept == ["Courier"] and found.deleted == 1
        assert _left(shelf) == ["Courier-m0"]
        write_catchup(shelf, "Courier", state="done", events=1, position=1)
        assert cleanup_processed_messages(shelf).deleted == 1
    assert _left(shelf) == []


def test_the_retention_and_batch_size_come_from_the_configuration(shelf):
    shelf.config["consume_idempotency"] = {"cleanup": {"retention_hours": 10, "batch_size": 1}}
    with shelf.domain_context():
        _mark(shelf, "Courier", [11, 12, 9])
        found = cleanup_processed_messages(shelf)
    assert (found.deleted, found.batches, found.retention_hours) == (2, 3, 10)
    assert _left(shelf) == ["Courier-m2"]


@pytest.mark.parametrize("cleanup", [{"retention_hours": 0}, {"retention_hours": "7d"}, {"batch_size": -1},
                                     {"retention": 5}])
def test_a_bad_configuration_is_named(shelf, cleanup):
    shelf.config["consume_idempotency"] = {"cleanup": cleanup}
    with shelf.domain_context(), pytest.raises(ConfigurationError, match=r"consume_idempotency\.cleanup"):
        cleanup_processed_messages(shelf)


def test_server_records_are_pruned_and_a_redelivery_after_the_retention_is_not_the_concern(shelf):
    """The records ``archipel server`` writes are the ones pruned (real handling, then aging)."""
    Path(shelf.cli_env["DURABLE_SHELF_FIXED"]).touch()
    send = shelf.elements["SendParcel"]
    with shelf.domain_context():
        shelf.process(send(label="a"))
    served = run_cli("server", "--domain", "durable_shelf", "--test-mode", env=shelf.cli_env)
    assert served.returncode == 0, served.stderr
    written = _left(shelf)
    assert written  # the courier's record
    db = shelf.providers.database("default")
    sql = db.engine.compile(db.processed.update().values(processed_at=db.processed.c.processed_at - 200 * HOUR))
    db.engine.run(lambda conn: conn.execute(sql))
    result = run_cli("idempotency", "cleanup", "--domain", "durable_shelf", env=shelf.cli_env)
    assert result.returncode == 0 and f"Deleted {len(written)} idempotency marker(s)" in result.stdout
    assert _left(shelf) == []


def test_usage_errors_and_the_memory_database():
    result = run_cli("idempotency", "cleanup", "--domain", "sample_shelf", "--retention-hours", "0")
    assert result.returncode == 2 and "--retention-hours" in result.stderr
    result = run_cli("idempotency", "cleanup", "--domain", "sample_shelf", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["supported"] is False
