"""A handler or projector deployed after events were stored catches up from the event store.

On every broker (memory + inline, SQLite + database broker, PostgreSQL +
Redis), with trimming active: the broker has dropped what the existing
handler read, so a new subscription must replay the event store, then go on
live without a gap or a duplicate.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseCommandHandler,
    BaseEvent,
    BaseEventHandler,
    BaseProjection,
    Domain,
    current_domain,
    handle,
)
from archipel.engine import EngineSettings, run_server
from archipel.engine.catchup import catchup_state
from archipel.engine.subscriptions import active_subscriptions
from archipel.fields import Identifier, Integer
from tests.engine.conftest import kind_config


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    domain = Domain(name=f"Late{uuid.uuid4().hex[:6]}", config=kind_config(request, tmp_path, request.param))
    seen: dict[str, Counter[str]] = {"early": Counter(), "late": Counter()}

    @domain.aggregate
    class Account(BaseAggregate):
        balance = Integer(default=0)

    @domain.command(part_of=Account)
    class Deposit(BaseCommand):
        account_id = Identifier()
        amount = Integer()

    @domain.event(part_of=Account)
    class Deposited(BaseEvent):
        account_id = Identifier()
        amount = Integer()

    @domain.command_handler(part_of=Account)
    class Accounts(BaseCommandHandler):
        @handle(Deposit)
        def deposit(self, command: Deposit) -> None:
            repo = current_domain.repository_for(Account)
            account = repo.get_or_none(command.account_id) or Account(id=command.account_id)
            account.balance += command.amount
            account.raise_(Deposited(account_id=account.id, amount=command.amount))
            repo.add(account)

    @domain.event_handler(part_of=Account)
    class Early(BaseEventHandler):
        @handle(Deposited)
        def on(self, event: Deposited) -> None:
            seen["early"][event._metadata.id] += 1

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
    domain.seen = seen  # type: ignore[attr-defined]
    domain.classes = {"Account": Account, "Deposit": Deposit, "Deposited": Deposited}  # type: ignore[attr-defined]
    yield domain
    domain.shutdown()


def _deposit(shop: Any, accounts: int, each: int) -> None:
    deposit = shop.classes["Deposit"]
    with shop.domain_context():
        for _ in range(each):
            for n in range(accounts):
                shop.process(deposit(account_id=f"acc-{n}", amount=1))


def _trim_everything(shop: Any) -> int:
    broker = shop.brokers["default"]
    settings = EngineSettings.from_config(shop.config)
    removed = 0
    for sub in active_subscriptions(shop):
        for stream in sub.broker_streams(settings):
            removed += broker.trim(stream)
    return removed


def _add_late_projector(shop: Any) -> Any:
    Account, Deposited = shop.classes["Account"], shop.classes["Deposited"]
    seen = shop.seen

    class Totals(BaseProjection):
        account_id = Identifier(identifier=True)
        total = Integer(default=0)

    class LateProjector:
        @handle(Deposited)
        def on(self, event: Deposited) -> None:
            seen["late"][event._metadata.id] += 1
            repo = current_domain.repository_for(Totals)
            row = repo.get_or_none(event.account_id) or Totals(account_id=event.account_id)
            row.total += event.amount
            repo.add(row)

    shop.register(Totals, "projection")
    shop.register(LateProjector, "projector", projector_for=Totals, aggregates=[Account])
    shop.init(traverse=False)
    with shop.domain_context():
        shop.setup_database()
    return Totals


def _totals(shop: Any, totals: Any) -> dict[str, int]:
    with shop.domain_context():
        return {row.account_id: row.total for row in shop.query_for(totals).all().items}


def test_a_projector_added_later_catches_up_then_goes_on_live_once(shop: Any) -> None:
    _deposit(shop, accounts=3, each=4)
    assert run_server(shop, test_mode=True) == 0
    assert len(shop.seen["early"]) == 12
    assert _trim_everything(shop) > 0  # the broker no longer holds those events

    totals = _add_late_projector(shop)
    _deposit(shop, accounts=3, each=1)  # and some arrive after the deployment
    assert run_server(shop, test_mode=True) == 0

    # handler calls are at-least-once (a batch that conflicts runs again message by
    # message); effects are exactly-once: the totals show neither gap nor duplicate
    late = shop.seen["late"]
    assert set(late) == set(shop.seen["early"]) and len(late) == 15, "no event missed"
    assert _totals(shop, totals) == {"acc-0": 5, "acc-1": 5, "acc-2": 5}
    name = next(s.name for s in active_subscriptions(shop) if s.name.endswith("LateProjector"))
    with shop.domain_context():
        record = catchup_state(shop, name)
    assert record is not None and record["state"] == "done" and record["events"] >= 12

    _deposit(shop, accounts=1, each=2)  # live from now on
    assert run_server(shop, test_mode=True) == 0
    assert len(late) == 17
    assert _totals(shop, totals) == {"acc-0": 7, "acc-1": 5, "acc-2": 5}


def test_without_trimming_a_new_projector_reads_the_broker_from_its_start(shop: Any) -> None:
    _deposit(shop, accounts=2, each=2)
    assert run_server(shop, test_mode=True) == 0
    totals = _add_late_projector(shop)
    assert run_server(shop, test_mode=True) == 0
    assert len(shop.seen["late"]) == 4
    assert _totals(shop, totals) == {"acc-0": 2, "acc-1": 2}
    name = next(s.name for s in active_subscriptions(shop) if s.name.endswith("LateProjector"))
    with shop.domain_context():
        record = catchup_state(shop, name)
    assert record is not None and record["events"] == 0  # nothing replayed: the broker had it all
