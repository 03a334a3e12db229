"""``archipel.testing.given``: Protean's test sentences about an event-sourced aggregate."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseCommand, BaseCommandHandler, BaseEvent, apply, handle
from archipel.errors import IncorrectUsageError, InvalidOperation
from archipel.fields import Identifier, Integer, String
from archipel.testing import given
from archipel.utils.globals import current_domain


@pytest.fixture
def bank(make_domain):
    domain = make_domain()

    @domain.aggregate(is_event_sourced=True)
    class Account(BaseAggregate):
        account_id = Identifier(identifier=True)
        owner = String()
        balance = Integer(default=0)

        @apply
        def opened(self, event: Opened) -> None:
            self.account_id = event.account_id
            self.owner = event.owner

        @apply
        def deposited(self, event: Deposited) -> None:
            self.balance = (self.balance or 0) + event.amount

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()
        owner = String()

    @domain.event(part_of=Account)
    class Deposited(BaseEvent):
        account_id = Identifier()
        amount = Integer()

    @domain.command(part_of=Account)
    class Open(BaseCommand):
        account_id = Identifier()
        owner = String()

    @domain.command(part_of=Account)
    class Deposit(BaseCommand):
        account_id = Identifier()
        amount = Integer()

    @domain.command_handler(part_of=Account)
    class Accounts(BaseCommandHandler):
        @handle(Open)
        def open(self, command):
            account = Account(account_id=command.account_id)
            account.raise_(Opened(account_id=command.account_id, owner=command.owner))
            current_domain.repository_for(Account).add(account)

        @handle(Deposit)
        def deposit(self, command):
            if command.amount <= 0:
                raise InvalidOperation("deposits must be positive")
            repo = current_domain.repository_for(Account)
            account = repo.get(command.account_id)
            account.raise_(Deposited(account_id=account.account_id, amount=command.amount))
            repo.add(account)

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        yield domain, Account, Opened, Deposited, Open, Deposit


def test_given_history_then_a_command(bank):
    _, Account, Opened, Deposited, _, Deposit = bank
    account = given(Account, Opened(account_id="a1", owner="Ana"), Deposited(account_id="a1", amount=5))
    account.process(Deposit(account_id="a1", amount=10))
    assert account.accepted and not account.rejected
    assert account.balance == 15 and account.owner == "Ana"
    assert Deposited in account.events and account.events[Deposited].amount == 10
    assert len(account.events) == 1  # only the command's, not the history


def test_commands_chain_from_nothing(bank):
    _, Account, Opened, Deposited, Open, Deposit = bank
    account = given(Account).process(Open(account_id="a2", owner="Bo")).process(Deposit(account_id="a2", amount=3))
    assert account.balance == 3
    assert account.all_events.types == [Opened, Deposited]
    assert account.events.types == [Deposited]


def test_a_rejected_command_leaves_the_state_and_says_why(bank):
    _, Account, Opened, _, _, Deposit = bank
    account = given(Account, Opened(account_id="a3", owner="Cy")).process(Deposit(account_id="a3", amount=-1))
    assert account.rejected and isinstance(account.rejection, InvalidOperation)
    assert account.rejection_messages == ["deposits must be positive"]
    assert not account.events
    assert account.balance == 0


def test_history_needs_an_event_sourced_aggregate(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Plain(BaseAggregate):
        name = String()

    @domain.event(part_of=Plain)
    class Named(BaseEvent):
        name = String()

    domain.init(traverse=False)
    with domain.domain_context(), pytest.raises(IncorrectUsageError, match="event-sourced"):
        given(Plain, Named(name="x")).process(object())


def test_given_takes_an_aggregate_class():
    with pytest.raises(IncorrectUsageError, match="aggregate class"):
        given(object)
