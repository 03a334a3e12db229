"""The async pipeline end to end on the memory database and the inline broker."""

from __future__ import annotations

import threading
import time

import pytest

from archipel.engine import EngineSettings, Worker, run_server
from archipel.engine.server import _all_idle
from tests.engine.bank import check_ledgers
from tests.engine.conftest import deposit_many


def _drain(bank) -> None:
    assert run_server(bank, test_mode=True) == 0  # test mode stops once everything is handled


def test_async_commands_and_events_reach_the_projection(make_bank):
    bank = make_bank()
    expected = deposit_many(bank, accounts=5, per_account=40)
    assert bank.providers.database("default").outbox().pending_count() == 200  # nothing handled yet
    _drain(bank)
    assert check_ledgers(bank, expected) == []
    account = bank.elements["Account"]
    with bank.domain_context():
        assert bank.repository_for(account).get("acc-0").deposits == 40


def test_async_command_returns_its_id_and_is_recorded(make_bank):
    bank = make_bank()
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        message_id = bank.process(deposit(account_id="a", amount=5, seq=1))
    assert isinstance(message_id, str)
    _drain(bank)
    stored = bank.event_store.read_stream(f"{bank.snake_name}::account:command-a")
    assert [m["metadata"]["id"] for m in stored] == [message_id]


def test_events_of_sync_commands_are_handled_by_the_server(make_bank):
    bank = make_bank(config={"command_processing": "sync"})
    expected = deposit_many(bank, accounts=3, per_account=10)
    assert check_ledgers(bank, expected) != []  # events wait for the server
    _drain(bank)
    assert check_ledgers(bank, expected) == []


@pytest.mark.parametrize("relay_shards", [4, 1])
def test_two_workers_split_the_partitions_and_lose_nothing(make_bank, relay_shards):
    bank = make_bank(partitions=4, lease_seconds=1.0, relay_shards=relay_shards)
    settings = EngineSettings.from_config(bank.config)
    stop = threading.Event()
    workers = [Worker(bank, settings, stop_event=stop).start() for _ in range(2)]
    try:
        expected = deposit_many(bank, accounts=8, per_account=25)

        def balanced() -> bool:
            shards = [set(w.relay._owned.get("default", {})) if w.relay else set() for w in workers]
            if not shards[0].isdisjoint(shards[1]) or shards[0] | shards[1] != set(range(relay_shards)):
                return False
            for index in range(len(workers[0].consumers)):
                owned = [set(w.consumers[index].ownership.owned) for w in workers]
                if not owned[0].isdisjoint(owned[1]) or owned[0] | owned[1] != {0, 1, 2, 3}:
                    return False
                if relay_shards > 1:
                    # both relay a half of the outbox, and both take half of the partitions
                    if sorted(len(s) for s in shards) != [2, 2] or sorted(len(o) for o in owned) != [2, 2]:
                        return False
                else:
                    # the one that relays the whole outbox takes fewer (relay_weight): 1 of 4 against 3
                    relaying = [bool(s) for s in shards]
                    if sorted(len(o) for o in owned) != [1, 3] or len(owned[relaying.index(True)]) != 1:
                        return False
            return True

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if balanced() and _all_idle(workers) and not check_ledgers(bank, expected):
                break
            time.sleep(0.05)
        # each worker ends up with its fair share of every subscription
        assert balanced()
    finally:
        for worker in workers:
            worker.stop()
    assert check_ledgers(bank, expected) == []


def test_graceful_stop_gives_every_lease_back(make_bank):
    bank = make_bank()
    deposit_many(bank, accounts=2, per_account=5)
    _drain(bank)
    from archipel.engine.leases import LeaseStore

    leases = LeaseStore(bank)
    for scope in ("partition", "relay", "members"):
        held = [r for r in leases.live(f"{bank.snake_name}/{scope}")]
        assert held == [], scope


def test_a_redelivered_event_is_applied_once(make_bank):
    bank = make_bank(partitions=1)
    expected = deposit_many(bank, accounts=1, per_account=3)
    _drain(bank)
    # publish every event again, as a relay that crashed before marking rows sent would
    broker = bank.brokers["default"]
    for message in bank.event_store.read_category(f"{bank.snake_name}::account"):
        broker.publish(f"{bank.snake_name}::account", message)
    _drain(bank)
    assert check_ledgers(bank, expected) == []


def test_subscription_effects_commit_with_the_processed_record(make_bank):
    bank = make_bank(partitions=1)
    deposit_many(bank, accounts=1, per_account=2)
    _drain(bank)
    processed = bank.providers.database("default").processed
    names = {name for name, _ in processed}
    assert any(name.endswith("LedgerProjector") for name in names)
    assert any(name.endswith("AccountCommands") for name in names)


def test_adapters_that_mark_a_batch_at_once_are_used(make_bank):
    from archipel.adapters.memory.database import MemoryDatabase, MemoryTransaction
    from archipel.port import registry

    calls: list[int] = []

    class BulkTransaction(MemoryTransaction):
        __slots__ = ()

        def mark_processed_many(self, subscription, message_ids):
            calls.append(len(message_ids))
            return [self.mark_processed(subscription, m) for m in message_ids]

    class BulkDatabase(MemoryDatabase):
        def begin(self):
            return BulkTransaction(self)

    registry.register_provider("database", "memory-bulk", BulkDatabase)
    bank = make_bank(config={"databases": {"default": {"provider": "memory-bulk"}}}, partitions=1)
    expected = deposit_many(bank, accounts=4, per_account=10)
    _drain(bank)
    assert check_ledgers(bank, expected) == []
    assert calls and max(calls) > 1  # whole batches were marked in one call
