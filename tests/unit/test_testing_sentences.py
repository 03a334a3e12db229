"""``archipel.testing``: sentences about events (projections, event handlers, process
managers), ``drain`` and ``process_and_wait`` (Protean's ``protean.testing``)."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseCommandHandler,
    BaseEvent,
    BaseEventHandler,
    BaseProcessManager,
    BaseProjection,
    BaseProjector,
    handle,
)
from archipel.errors import IncorrectUsageError
from archipel.fields import Identifier, Integer, String
from archipel.testing import given, process_and_wait
from archipel.utils.globals import current_domain


class Elements:
    pass


def build(domain, handled: list[str]) -> Elements:
    @domain.aggregate
    class Account(BaseAggregate):
        account_id = Identifier(identifier=True)
        owner = String()
        balance = Integer(default=0)

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()
        owner = String()

    @domain.event(part_of=Account)
    class Deposited(BaseEvent):
        account_id = Identifier()
        amount = Integer()

    @domain.event(part_of=Account)
    class Closed(BaseEvent):
        account_id = Identifier()

    @domain.event(part_of=Account)
    class Welcomed(BaseEvent):
        account_id = Identifier()

    @domain.command(part_of=Account)
    class Open(BaseCommand):
        account_id = Identifier()
        owner = String()

    @domain.command(part_of=Account)
    class Welcome(BaseCommand):
        account_id = Identifier()

    @domain.command_handler(part_of=Account)
    class Accounts(BaseCommandHandler):
        @handle(Open)
        def open(self, command):
            account = Account(account_id=command.account_id, owner=command.owner)
            account.raise_(Opened(account_id=command.account_id, owner=command.owner))
            current_domain.repository_for(Account).add(account)
            return command.account_id

        @handle(Welcome)
        def welcome(self, command):
            repo = current_domain.repository_for(Account)
            account = repo.get(command.account_id)
            account.raise_(Welcomed(account_id=command.account_id))
            repo.add(account)

    @domain.projection
    class Balance(BaseProjection):
        account_id = Identifier(identifier=True)
        owner = String()
        balance = Integer(default=0)

    @domain.projector(projector_for=Balance, aggregates=[Account])
    class Balances(BaseProjector):
        @handle(Opened)
        def opened(self, event):
            current_domain.repository_for(Balance).add(Balance(account_id=event.account_id, owner=event.owner))

        @handle(Deposited)
        def deposited(self, event):
            repo = current_domain.repository_for(Balance)
            row = repo.get(event.account_id)
            row.balance += event.amount
            repo.add(row)

    @domain.event_handler(part_of=Account)
    class Audit(BaseEventHandler):
        @handle(Opened)
        def opened(self, event):
            handled.append(f"audit:{event.account_id}")

    @domain.process_manager(aggregates=[Account])
    class Onboarding(BaseProcessManager):
        account_id = Identifier()
        status = String(default="new")
        total = Integer(default=0)

        @handle(Opened, start=True, correlate="account_id")
        def opened(self, event):
            self.account_id = event.account_id
            self.status = "awaiting_deposit"

        @handle(Deposited, correlate="account_id")
        def deposited(self, event):
            self.total += event.amount
            if self.total >= 100:
                self.status = "funded"
                current_domain.process(Welcome(account_id=event.account_id))

        @handle(Closed, correlate="account_id", end=True)
        def closed(self, event):
            self.status = "closed"

    elements = Elements()
    elements.__dict__.update(locals())
    return elements


@pytest.fixture
def bank(make_domain):
    handled: list[str] = []
    domain = make_domain()
    shop = build(domain, handled)
    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        yield shop, handled


def test_given_events_then_a_projection(bank):
    e, handled = bank
    result = given(
        e.Opened(account_id="a1", owner="Ana"),
        e.Deposited(account_id="a1", amount=30),
        e.Deposited(account_id="a1", amount=12),
    ).then(e.Balance, account_id="a1")
    assert result.found and not result.not_found
    assert result.has(owner="Ana", balance=42) is result
    assert result.balance == 42 and result.projection.owner == "Ana"
    assert handled == ["audit:a1"]  # event handlers receive given events too


def test_has_names_the_attribute_that_differs(bank):
    e, _ = bank
    result = given(e.Opened(account_id="a1", owner="Ana")).then(e.Balance, account_id="a1")
    with pytest.raises(AssertionError, match=r"Balance.balance: expected 5, got 0"):
        result.has(balance=5)
    with pytest.raises(AssertionError, match="no attribute 'nope'"):
        result.has(nope=1)


def test_a_record_no_event_made_is_not_found(bank):
    e, _ = bank
    result = given(e.Opened(account_id="a1", owner="Ana")).then(e.Balance, account_id="zz")
    assert result.not_found
    with pytest.raises(AssertionError, match="not found"):
        result.has(owner="Ana")


def test_given_a_process_manager_and_events(bank):
    e, handled = bank
    flow = given(e.Onboarding, e.Opened(account_id="a1", owner="Ana"), e.Deposited(account_id="a1", amount=40))
    assert flow.status == "awaiting_deposit" and flow.total == 40
    assert flow.transition_count == 2 and not flow.is_complete and not flow.not_started
    assert handled == []  # only the process manager receives the events


def test_a_process_manager_ends_and_its_commands_run(bank):
    e, _ = bank
    current_domain.process(e.Open(account_id="a1", owner="Ana"))
    flow = given(
        e.Opened(account_id="a1", owner="Ana"),
        e.Deposited(account_id="a1", amount=150),
        e.Closed(account_id="a1"),
    ).results_in(e.Onboarding, account_id="a1")
    assert flow.status == "closed" and flow.is_complete and flow.transition_count == 3
    welcomed = [m for m in current_domain.event_store.read_stream(f"{e.Account._meta.stream_category}-a1") if "Welcomed" in m["metadata"]["type"]]
    assert len(welcomed) == 1  # the command the manager sent was handled


def test_no_start_event_means_not_started(bank):
    e, _ = bank
    flow = given(e.Onboarding, e.Deposited(account_id="a1", amount=5))
    assert flow.not_started and flow.transition_count == 0
    with pytest.raises(AttributeError, match="did a start event match"):
        _ = flow.status


def test_given_refuses_what_it_cannot_start_from(bank):
    e, _ = bank
    with pytest.raises(IncorrectUsageError):
        given(e.Balance)
    with pytest.raises(IncorrectUsageError):
        given("Opened")
    with pytest.raises(IncorrectUsageError, match="one keyword"):
        given(e.Opened(account_id="a1", owner="Ana")).then(e.Balance)


def test_process_and_wait_in_sync_mode(bank):
    e, handled = bank
    outcome = process_and_wait(e.Open(account_id="a9", owner="Bo"))
    assert outcome.succeeded and outcome.result == "a9"
    assert e.Opened in outcome.events and outcome.events[e.Opened].owner == "Bo"
    assert handled == ["audit:a9"]
    failed = process_and_wait(e.Welcome(account_id="missing"))
    assert failed.failed and failed.error is not None and not failed.events



def test_process_and_wait_drains_the_engine_in_async_mode(make_domain):
    handled: list[str] = []
    domain = make_domain(command_processing="async", event_processing="async")
    e = build(domain, handled)
    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        outcome = process_and_wait(
            e.Open(account_id="a7", owner="Cy"),
            until=lambda: domain.repository_for(e.Balance).get_or_none("a7") is not None,
        )
        assert outcome.succeeded and isinstance(outcome.result, str)  # the command id
        assert e.Opened in outcome.events
        assert domain.repository_for(e.Balance).get("a7").owner == "Cy"
    assert handled == ["audit:a7"]


def test_drain_warns_when_until_never_holds(bank):
    from archipel.testing import drain

    with pytest.warns(UserWarning, match="max_cycles=2"):
        assert drain(until=lambda: False, max_cycles=2) == 2
    with pytest.raises(IncorrectUsageError):
        drain(max_cycles=0)
