"""``archipel outbox reconcile``: missing outbox rows come back once, on real SQLite and PostgreSQL.

The sample ``durable_shelf`` domain (async events, outbox on) stores its
events and rows in one database; rows are deleted behind its back, as a lost
outbox commit or a hand-made cleanup would leave them. Reconciling adds
exactly the deleted rows, a second run (or a concurrent one) adds nothing,
rows already relayed are never added again, and after ``archipel server``
relays them every parcel is delivered exactly once.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.engine.reconcile import CLOCK_MARGIN, IN_FLIGHT_SECONDS, reconcile_outbox
from tests.cli.conftest import SAMPLE, cli_env, run_cli

PARCELS = 6


@pytest.fixture(params=["sqlite", "postgresql"])
def shelf(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
        db = request.getfixturevalue("postgres_db_url")
    else:
        db = str(tmp_path / "shelf.db")
    fixed = tmp_path / "fixed"
    fixed.touch()  # the courier delivers at once
    monkeypatch.syspath_prepend(str(SAMPLE))
    import durable_shelf

    domain = durable_shelf.build(db, "database", str(fixed))
    domain.init()
    with domain.domain_context():
        domain.setup_database()
        domain.truncate_database()
    domain.cli_env = cli_env(DURABLE_SHELF_DB=db, DURABLE_SHELF_BROKER="database",  # type: ignore[attr-defined]
                             DURABLE_SHELF_FIXED=str(fixed))
    yield domain
    with domain.domain_context():
        domain.truncate_database()
    domain.shutdown()
    sys.modules.pop("durable_shelf", None)


def _send(domain: Any, count: int = PARCELS) -> None:
    send = domain.elements["SendParcel"]
    with domain.domain_context():
        for i in range(count):
            domain.process(send(label=f"parcel-{i}"))


def _outbox(domain: Any) -> Any:
    return domain.providers.database("default").outbox()


def _rows(domain: Any) -> list[dict[str, Any]]:
    with domain.domain_context():
        return _outbox(domain).rows()


def _delete(domain: Any, message_ids: set[str]) -> None:
    outbox = _outbox(domain)
    table = outbox.table
    engine = outbox.engine
    sql = engine.compile(table.delete().where(table.c.message_id.in_(sorted(message_ids))))
    engine.run(lambda conn: conn.execute(sql))


def _deliveries(domain: Any) -> list[str]:
    with domain.domain_context():
        return sorted(d.label for d in domain.repository_for(domain.elements["Delivery"]).query.all().items)


def _reconcile(domain: Any, **kwargs: Any) -> Any:
    with domain.domain_context():
        return reconcile_outbox(domain, **kwargs)


def test_deleted_rows_come_back_once_and_each_parcel_is_delivered_once(shelf):
    _send(shelf)
    rows = _rows(shelf)
    assert len(rows) == PARCELS
    lost = {rows[1]["message_id"], rows[4]["message_id"]}
    _delete(shelf, lost)

    preview = _reconcile(shelf, dry_run=True)
    assert {r["message_id"] for r in preview.rows} == lost
    assert len(_rows(shelf)) == PARCELS - 2  # a dry run adds nothing

    result = run_cli("outbox", "reconcile", "--domain", "durable_shelf", "--json", env=shelf.cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["created"] == 2 and {r["message_id"] for r in report["rows"]} == lost
    assert report["considered"] == PARCELS and report["skipped_old"] == 0
    assert sorted(r["message_id"] for r in _rows(shelf)) == sorted(r["message_id"] for r in rows)
    again = run_cli("outbox", "reconcile", "--domain", "durable_shelf", env=shelf.cli_env)
    assert again.returncode == 0 and "Nothing to reconcile" in again.stdout

    served = run_cli("server", "--domain", "durable_shelf", "--test-mode", env=shelf.cli_env)
    assert served.returncode == 0, served.stderr
    assert _deliveries(shelf) == sorted(f"parcel-{i}" for i in range(PARCELS))
    # relayed rows are sent, not missing: nothing is added, nothing published twice
    assert _reconcile(shelf).rows == []
    run_cli("server", "--domain", "durable_shelf", "--test-mode", env=shelf.cli_env)
    assert _deliveries(shelf) == sorted(f"parcel-{i}" for i in range(PARCELS))


def test_concurrent_reconciles_add_each_row_once(shelf):
    _send(shelf)
    _delete(shelf, {r["message_id"] for r in _rows(shelf)})
    barrier = threading.Barrier(3)
    added: list[int] = []

    def run() -> None:
        barrier.wait()
        added.append(len(_reconcile(shelf).rows))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(added) == [0, 0, PARCELS]
    ids = [r["message_id"] for r in _rows(shelf)]
    assert len(ids) == len(set(ids)) == PARCELS


def test_messages_older_than_the_outbox_retention_are_never_repaired(shelf):
    _send(shelf)
    _delete(shelf, {r["message_id"] for r in _rows(shelf)})  # as purged after relaying
    later = time.time() + 300 - CLOCK_MARGIN + 5  # [server] outbox_retention_seconds = 300
    found = _reconcile(shelf, now=later)
    assert found.rows == [] and found.skipped_old == PARCELS and found.considered == 0
    assert _rows(shelf) == []


def test_limit_bounds_the_scan_to_the_latest_messages(shelf):
    _send(shelf)
    _delete(shelf, {r["message_id"] for r in _rows(shelf)})
    found = _reconcile(shelf, limit=4, dry_run=True)  # command + event per parcel
    assert found.scanned == 4 and len(found.rows) == 2


def test_synchronous_commands_and_foreign_messages_get_no_row(shelf):
    _send(shelf, 2)  # the commands are stored too, but only async ones have rows
    send = shelf.elements["SendParcel"]
    with shelf.domain_context():
        shelf.process(send(label="later"), asynchronous=True)
    _delete(shelf, {r["message_id"] for r in _rows(shelf)})
    found = _reconcile(shelf)
    kinds = sorted(r["message"]["metadata"]["kind"] for r in found.rows)
    assert kinds == ["COMMAND", "EVENT", "EVENT"]


def _two_databases(tmp_path: Path) -> Any:
    from archipel import BaseAggregate, BaseEvent, Domain
    from archipel.fields import Identifier, String

    domain = Domain(name="TwoFiles", config={
        "databases": {"default": {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'state.db'}"}},
        "event_store": {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'events.db'}"},
        "brokers": {"default": {"provider": "database"}},
        "event_processing": "async",
    })

    @domain.aggregate
    class Parcel(BaseAggregate):
        label = String()

    @domain.event(part_of=Parcel)
    class Sent(BaseEvent):
        parcel_id = Identifier(required=True)

    domain.init(traverse=False)
    return domain, Parcel, Sent


@pytest.mark.parametrize("broken", [True, False])
def test_a_separate_event_store_leaves_recent_messages_to_their_transaction(tmp_path, broken):
    domain, parcel_cls, sent = _two_databases(tmp_path)
    with domain.domain_context():
        domain.setup_database()
        parcel = parcel_cls(label="x")
        parcel.raise_(sent(parcel_id=parcel.id))
        domain.repository_for(parcel_cls).add(parcel)
        if broken:  # the outbox commit that never came
            _delete(domain, {r["message_id"] for r in _outbox(domain).rows()})
        recent = reconcile_outbox(domain, dry_run=True)
        assert recent.skipped_recent == 1 and recent.rows == []
        settled = reconcile_outbox(domain, now=time.time() + IN_FLIGHT_SECONDS + 1)
        assert settled.considered == 1 and len(settled.rows) == (1 if broken else 0)
        assert len(_outbox(domain).rows()) == 1
    domain.shutdown()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lost=st.sets(st.integers(min_value=0, max_value=PARCELS - 1)))
def test_reconcile_restores_exactly_the_rows_that_were_lost(tmp_path_factory, monkeypatch, lost):
    monkeypatch.syspath_prepend(str(SAMPLE))
    import durable_shelf

    domain = durable_shelf.build(str(tmp_path_factory.mktemp("shelf") / "shelf.db"), "database", None)
    domain.init()
    with domain.domain_context():
        domain.setup_database()
    _send(domain)
    rows = _rows(domain)
    gone = {rows[i]["message_id"] for i in lost}
    _delete(domain, gone)
    assert {r["message_id"] for r in _reconcile(domain).rows} == gone
    after = _rows(domain)
    assert sorted(r["message_id"] for r in after) == sorted(r["message_id"] for r in rows)
    restored = {r["message_id"]: r for r in after if r["message_id"] in gone}
    for original in rows:
        if original["message_id"] in restored:  # the same message, stream, type and payload
            copy = restored[original["message_id"]]
            assert (copy["stream"], copy["type"], copy["message"]["data"]) == (
                original["stream"], original["type"], original["message"]["data"])
    assert _reconcile(domain).rows == []
    domain.shutdown()


def test_cli_refuses_a_domain_without_an_outbox_and_another_provider(tmp_path):
    result = run_cli("outbox", "reconcile", "--domain", "sample_shelf")
    assert result.returncode == 1 and "outbox is not enabled" in result.stderr
    result = run_cli("outbox", "reconcile", "--domain", "sample_shelf", "--provider", "other")
    assert result.returncode == 2 and "default database only" in result.stderr


def test_integration_rows_of_published_events_come_back_too(tmp_path):
    from archipel import BaseAggregate, BaseEvent, Domain
    from archipel.fields import Identifier

    db = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'pub.db'}"}
    domain = Domain(name="Publisher", config={
        "databases": {"default": db}, "event_store": db, "event_processing": "async",
        "brokers": {"default": {"provider": "database"}, "partners": {"provider": "database"}},
        "integration": {"broker": "partners"},
    })

    @domain.aggregate
    class Order(BaseAggregate):
        pass

    @domain.event(part_of=Order, published=True)
    class Placed(BaseEvent):
        order_id = Identifier(required=True)

    @domain.event(part_of=Order)
    class Noted(BaseEvent):
        order_id = Identifier(required=True)

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        order = Order()
        order.raise_(Placed(order_id=order.id))
        order.raise_(Noted(order_id=order.id))
        domain.repository_for(Order).add(order)
        before = sorted((r["type"], r["stream"].split(">")[0]) for r in _outbox(domain).rows())
        assert len(before) == 3  # two domain rows, one integration row
        _delete(domain, {r["message_id"] for r in _outbox(domain).rows()})
        found = reconcile_outbox(domain)
        assert len(found.rows) == 3
        assert sorted((r["type"], r["stream"].split(">")[0]) for r in _outbox(domain).rows()) == before
        assert reconcile_outbox(domain).rows == []
    domain.shutdown()
