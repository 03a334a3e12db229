"""Priority lanes: bulk work on its own streams, production first, bulk never starved."""

from __future__ import annotations

from archipel.engine import EngineSettings, lanes, run_server
from archipel.engine.leases import LeaseStore
from archipel.engine.relay import OutboxRelay, route_row
from archipel.utils.processing import priority_var
from tests.engine.bank import check_ledgers
from tests.engine.test_fencing_and_relay import _consumer


def _relay_all(bank) -> None:
    settings = EngineSettings.from_config(bank.config)
    relay = OutboxRelay(bank, bank.brokers["default"], LeaseStore(bank), settings, "relay")
    while relay.tick():
        pass
    relay.release()


def test_bulk_context_sets_the_priority_of_commands(make_bank):
    bank = make_bank()
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        with lanes.bulk():
            assert priority_var.get() == lanes.BULK_PRIORITY
            bank.process(deposit(account_id="a", amount=1, seq=1))
            bank.process(deposit(account_id="a", amount=1, seq=2), priority=lanes.HIGH_PRIORITY)
        assert priority_var.get() is None
        bank.process(deposit(account_id="a", amount=1, seq=3))
    rows = sorted(bank.providers.database("default").outbox().rows.values(), key=lambda r: r["id"])
    assert [r["priority"] for r in rows] == [lanes.BULK_PRIORITY, lanes.HIGH_PRIORITY, 0]


def test_bulk_messages_travel_on_bulk_streams_and_events_inherit_the_lane(make_bank):
    bank = make_bank(partitions=1, priority_lanes=True)
    deposit = bank.elements["Deposit"]
    with bank.domain_context(), lanes.bulk():
        bank.process(deposit(account_id="b", amount=1, seq=1))
    assert run_server(bank, test_mode=True) == 0
    broker = bank.brokers["default"]
    category = f"{bank.snake_name}::account"
    assert broker.length(f"{category}:command:bulk") == 1
    assert broker.length(f"{category}:bulk") == 1  # the event of a bulk command is bulk too
    assert broker.length(f"{category}:command") == 0
    assert check_ledgers(bank, {"b": [1]}) == []


def test_route_row_without_lanes_uses_production_streams():
    settings = EngineSettings(partitions=3, priority_lanes=False)
    row = {"stream": "shop::order-42", "priority": -100}
    name = route_row(row, settings)
    assert name.startswith("shop::order#") and ":bulk" not in name
    with_lanes = EngineSettings(partitions=3, priority_lanes=True)
    assert route_row(row, with_lanes) == name.replace("#", ":bulk#")


def test_production_goes_first_and_bulk_still_advances(make_bank):
    bank = make_bank(partitions=1, priority_lanes=True, messages_per_tick=20)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        with lanes.bulk():
            for seq in range(1, 201):
                bank.process(deposit(account_id="bulk", amount=1, seq=seq))
        for seq in range(1, 6):
            bank.process(deposit(account_id="prod", amount=1, seq=seq))
    _relay_all(bank)
    commands = _consumer(bank, "w", kind="command_handler")
    commands.step()
    account = bank.elements["Account"]
    with bank.domain_context():
        repo = bank.repository_for(account)
        assert repo.get("prod").deposits == 5  # all production commands in the first step
        assert 1 <= repo.get("bulk").deposits <= 20 // 4  # bulk got its bounded share too
    while commands.step():
        pass
    with bank.domain_context():
        assert bank.repository_for(account).get("bulk").deposits == 200
