"""The async pipeline on SQL storage: SQLite with the embedded broker, PostgreSQL with Redis."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from archipel.engine import EngineSettings, run_server
from archipel.engine.dlq import dead_letter_store
from archipel.engine.invoke import Batch, mark_processed
from tests.engine.bank import BEHAVIOUR, build_bank, check_ledgers
from tests.engine.conftest import async_config, deposit_many, server_config


def _config(database: dict[str, Any], broker: dict[str, Any]) -> dict[str, Any]:
    return async_config(database, broker, partitions=2, max_retries=1)


@pytest.fixture(params=["sqlite+database", "postgres+redis", "postgres+database", "postgres+database-elsewhere"])
def sql_bank(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The bank on SQLite with the database broker, PostgreSQL with Redis, and PostgreSQL with
    the database broker in the same database (the relay's direct path: claim, publish and
    mark in one transaction) or in a database of its own (claim, publish, mark)."""
    if request.param == "sqlite+database":
        config = _config({"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path}/bank.db"}, {"provider": "database"})
    elif request.param.startswith("postgres+database"):
        request.applymarker(pytest.mark.postgres)
        server = request.getfixturevalue("postgres_server")
        names = [server.create_database(prefix="t_sql_pipeline") for _ in range(2)]
        request.addfinalizer(lambda: [server.drop_database(name) for name in names])
        url = server.url(names[0])
        broker: dict[str, Any] = {"provider": "database"}
        if request.param.endswith("elsewhere"):
            broker["database_uri"] = server.url(names[1])
        config = _config({"provider": "postgresql", "database_uri": url}, broker)
    else:
        request.applymarker(pytest.mark.postgres)
        request.applymarker(pytest.mark.redis)
        url = request.getfixturevalue("postgres_db_url")
        redis_url = request.getfixturevalue("redis_flushed_url")
        config = _config({"provider": "postgresql", "database_uri": url}, {"provider": "redis", "URI": redis_url})
    bank = build_bank(f"Sql{uuid.uuid4().hex[:6]}", config)
    bank.init(traverse=False)
    with bank.domain_context():
        bank.setup_database()
    yield bank
    bank.shutdown()


def test_commands_and_events_flow_and_redeliveries_apply_once(sql_bank):
    expected = deposit_many(sql_bank, accounts=4, per_account=10)
    assert run_server(sql_bank, test_mode=True) == 0
    assert check_ledgers(sql_bank, expected) == []
    # every event published again (a relay that died before marking rows sent)
    settings = EngineSettings.from_config(sql_bank.config)
    from archipel.engine.relay import route_row

    broker = sql_bank.brokers["default"]
    events = sql_bank.event_store.read_category(f"{sql_bank.snake_name}::account")
    if not events:
        pytest.skip("this event store keeps no category index to replay from")
    broker.publish_many([(route_row({"stream": m["metadata"]["stream"]}, settings), m) for m in events])
    assert run_server(sql_bank, test_mode=True) == 0
    assert check_ledgers(sql_bank, expected) == []


def test_a_batch_is_marked_processed_in_one_call(sql_bank):
    batch = Batch(sql_bank)
    try:
        assert mark_processed(batch, "sub", ["a", "b", "a"]) == [True, True, False]
        batch.commit()
    finally:
        batch.rollback()
    batch = Batch(sql_bank)
    try:
        assert mark_processed(batch, "sub", ["b", "c"]) == [False, True]
        assert mark_processed(batch, "other", ["b"]) == [True]
    finally:
        batch.rollback()


def test_dead_letters_live_in_the_sql_database(sql_bank):
    BEHAVIOUR["transient"] = True  # retried once (max_retries = 1), then dead-lettered
    deposit = sql_bank.elements["Deposit"]
    with sql_bank.domain_context():
        sql_bank.process(deposit(account_id="bad", amount=-1, seq=1))
    assert run_server(sql_bank, test_mode=True) == 0
    store = dead_letter_store(sql_bank)
    (letter,) = store.list()
    assert letter.payload["data"]["amount"] == -1 and letter.attempts == 2
    BEHAVIOUR["fixed"] = True
    assert store.replay_all() == 1
    assert run_server(sql_bank, test_mode=True) == 0
    assert check_ledgers(sql_bank, {"bad": [1]}) == []
    assert store.list() == []


@pytest.mark.parametrize("store", ["sqlite+database", "postgres+redis"])
@pytest.mark.parametrize("tick", [1, 100])
def test_copies_of_a_message_queued_together_run_its_handler_once(request, tmp_path: Path, store: str, tick: int):
    """The relay may publish a message twice before either copy is handled (it died before
    marking the row sent): the copies wait in one partition's queue together. The handler
    runs once — its effects outside the database too — whatever the batch size, also when
    the processed records are looked up ahead of the batches (one message per batch)."""
    if store == "sqlite+database":
        database = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path}/bank.db"}
        broker: dict[str, Any] = {"provider": "database"}
    else:
        request.applymarker(pytest.mark.postgres)
        request.applymarker(pytest.mark.redis)
        database = {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}
        broker = {"provider": "redis", "URI": request.getfixturevalue("redis_flushed_url")}
    config = _config(database, broker)
    config["command_processing"] = "sync"  # events wait in the outbox until the server runs
    config["server"] = server_config(partitions=2, max_retries=1, messages_per_tick=tick)
    bank = build_bank(f"Twins{uuid.uuid4().hex[:6]}", config)
    from archipel import handle

    calls: list[tuple[str, int]] = []

    @bank.event_handler(part_of=bank.elements["Account"])  # type: ignore[attr-defined]
    class Audit:
        @handle(bank.elements["Deposited"])  # type: ignore[attr-defined]
        def on_deposited(self, event: Any) -> None:
            calls.append((event.account_id, event.seq))  # an effect no rollback undoes

    bank.init(traverse=False)
    try:
        with bank.domain_context():
            bank.setup_database()
        expected = deposit_many(bank, accounts=3, per_account=6)
        settings = EngineSettings.from_config(bank.config)
        from archipel.engine.relay import route_row

        events = bank.event_store.read_category(f"{bank.snake_name}::account")
        if not events:
            pytest.skip("this event store keeps no category index to replay from")
        copies = [(route_row({"stream": m["metadata"]["stream"]}, settings), m) for m in events]
        bank.brokers["default"].publish_many(copies + copies)  # the relay adds a third copy
        assert run_server(bank, test_mode=True) == 0
        assert check_ledgers(bank, expected) == []
        assert sorted(calls) == sorted((account, seq) for account, seqs in expected.items() for seq in seqs)
    finally:
        bank.shutdown()


@pytest.mark.parametrize("sql_bank", ["postgres+redis", "postgres+database"], indirect=True)
def test_a_worker_opens_its_threads_connections_before_any_work(sql_bank):
    """(A pool of server connections: SQLite's connections are opened as used.)"""
    from archipel.engine.worker import Worker

    engine = sql_bank.providers.database().engine
    assert engine._pool is not None and engine.is_postgres
    engine._pool.clear()
    with sql_bank.domain_context():
        worker = Worker(sql_bank)
        threads = 5 + sum(1 + consumer.ownership.partitions for consumer in worker.consumers)
        worker._reserve_connections()  # (what start does first)
    # relay, its claim and mark threads, heartbeat, each consumer's reader and partition runs:
    # opened now, not by the first batches when the work arrives
    assert engine._pool.idle == min(threads, engine._pool._limit)
