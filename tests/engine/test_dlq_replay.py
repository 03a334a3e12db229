"""Replaying dead letters never loses a message, on the database broker and on Redis.

A letter is deleted only after the broker accepted the replayed message: the
broker down keeps the letter; a crash between publishing and deleting leaves
a duplicate, which the subscription's processed-message records absorb.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from archipel.engine import run_server
from archipel.engine.dlq import DeadLetterStore, dead_letter_store
from archipel.errors import ArchipelError, BrokerNotShared
from tests._servers import free_port
from tests.engine.bank import BEHAVIOUR, build_bank, check_ledgers
from tests.engine.conftest import server_config


def _config(db: str, broker: dict[str, Any]) -> dict[str, Any]:
    storage = {"provider": "sqlite", "database_uri": f"sqlite:///{db}"}
    return {
        "databases": {"default": storage},
        "event_store": storage,
        "brokers": {"default": broker},
        "command_processing": "async",
        "event_processing": "async",
        "message_processing": "async",
        "server": server_config(partitions=1, max_retries=0),
    }


def _bank(name: str, config: dict[str, Any]) -> Any:
    bank = build_bank(name, config)
    bank.init(traverse=False)
    with bank.domain_context():
        bank.setup_database()
    return bank


@pytest.fixture(params=["database", "redis"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """``(bank, config maker)`` on an SQLite file with the database broker or Redis."""
    db = str(tmp_path / "bank.db")
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        url = request.getfixturevalue("redis_flushed_url")
        broker: dict[str, Any] = {"provider": "redis", "URI": url}
        down: dict[str, Any] = {"provider": "redis", "URI": f"redis://127.0.0.1:{free_port()}/0"}
    else:
        broker = {"provider": "database"}
        down = {"provider": "database", "database_uri": f"postgresql://nobody@127.0.0.1:{free_port()}/none"}
    name = f"Replay{uuid.uuid4().hex[:6]}"
    bank = _bank(name, _config(db, broker))
    yield bank, (lambda: build_bank(name, _config(db, down)))
    bank.shutdown()


def _poisoned(bank: Any) -> Any:
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        bank.process(deposit(account_id="bad", amount=1, seq=1))
        bank.process(deposit(account_id="bad", amount=-5, seq=2))
    assert run_server(bank, test_mode=True) == 0
    (letter,) = dead_letter_store(bank).list()
    return letter


def test_broker_down_keeps_the_letter(durable: Any) -> None:
    bank, with_broker_down = durable
    letter = _poisoned(bank)
    down = with_broker_down()
    down.init(traverse=False)
    try:
        with down.domain_context(), pytest.raises(ArchipelError):
            dead_letter_store(down).replay(letter.id, from_another_process=True)
        with down.domain_context(), pytest.raises(ArchipelError):
            dead_letter_store(down).replay_all(from_another_process=True)
    finally:
        down.shutdown()
    assert [x.id for x in dead_letter_store(bank).list()] == [letter.id]
    BEHAVIOUR["fixed"] = True
    assert dead_letter_store(bank).replay_all(from_another_process=True) == 1
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, {"bad": [1, 2]}) == []


def test_a_crash_between_publishing_and_deleting_is_a_duplicate_never_a_loss(
    durable: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank, _ = durable
    letter = _poisoned(bank)

    def crash(self: DeadLetterStore, ids: Any) -> int:
        raise KeyboardInterrupt("the operator's process died here")

    with monkeypatch.context() as patched:
        patched.setattr(DeadLetterStore, "_delete", crash)
        with pytest.raises(KeyboardInterrupt):
            dead_letter_store(bank).replay(letter.id, from_another_process=True)
    assert [x.id for x in dead_letter_store(bank).list()] == [letter.id]  # kept, and published

    BEHAVIOUR["fixed"] = True
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, {"bad": [1, 2]}) == []
    assert dead_letter_store(bank).replay(letter.id, from_another_process=True) is True  # the copy
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, {"bad": [1, 2]}) == []  # applied once
    assert dead_letter_store(bank).list() == []
    assert BEHAVIOUR["failures"] == {2: 1}


def test_the_inline_broker_refuses_a_replay_from_another_process(make_bank: Any) -> None:
    bank = make_bank(partitions=1, max_retries=0)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        bank.process(deposit(account_id="bad", amount=-5, seq=1))
    assert run_server(bank, test_mode=True) == 0
    store = dead_letter_store(bank)
    (letter,) = store.list()
    with pytest.raises(BrokerNotShared, match="the dead letter is kept"):
        store.replay(letter.id, from_another_process=True)
    with pytest.raises(BrokerNotShared):
        store.replay_all(from_another_process=True)
    assert store.list() == [letter]


def test_replay_all_reports_progress_chunk_by_chunk(durable: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import archipel.engine.dlq as dlq_module

    bank, _ = durable
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        for account in ("a", "b", "c"):
            bank.process(deposit(account_id=account, amount=-5, seq=1))
    assert run_server(bank, test_mode=True) == 0
    assert len(dead_letter_store(bank).list()) == 3
    monkeypatch.setattr(dlq_module, "_REPLAY_CHUNK", 2)
    seen: list[tuple[int, int]] = []
    BEHAVIOUR["fixed"] = True
    count = dead_letter_store(bank).replay_all(from_another_process=True, progress=lambda d, t: seen.append((d, t)))
    assert count == 3 and seen == [(2, 3), (3, 3)]
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, {"a": [1], "b": [1], "c": [1]}) == []
