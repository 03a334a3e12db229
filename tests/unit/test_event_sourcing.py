"""Event-sourced aggregates: state is the replay of their stream; upcasting old events."""

from __future__ import annotations

import uuid

import pytest

from archipel import BaseAggregate, BaseEvent, BaseUpcaster, Domain, apply
from archipel.errors import ExpectedVersionError, NotSupportedError, ObjectNotFound
from archipel.fields import Identifier, Integer, String
from archipel.handling.decoding import message_from_stored


def build_bank():
    bank = Domain(name=f"Bank{uuid.uuid4().hex[:6]}", config={})

    @bank.aggregate(is_event_sourced=True)
    class Account(BaseAggregate):
        owner = String()
        balance = Integer(default=0)

        @classmethod
        def open(cls, owner: str) -> Account:
            account = cls(owner=owner)
            account.raise_(Opened(account_id=account.id, owner=owner))
            return account

        def deposit(self, amount: int) -> None:
            self.raise_(Deposited(amount=amount))

        @apply
        def opened(self, event: Opened) -> None:
            self.owner = event.owner

        @apply
        def deposited(self, event: Deposited) -> None:
            self.balance = (self.balance or 0) + event.amount

    @bank.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()
        owner = String()

    @bank.event(part_of=Account, version=2)
    class Deposited(BaseEvent):
        amount = Integer()

    @bank.upcaster(event_type=f"{bank.name}.Deposited", from_version=1, to_version=2)
    class DepositedFromCents(BaseUpcaster):
        def upcast(self, data: dict) -> dict:
            return {"amount": data["cents"] // 100}

    bank.init(traverse=False)
    return bank, Account


@pytest.fixture
def bank():
    domain, account_cls = build_bank()
    with domain.domain_context():
        yield domain, account_cls


def test_state_is_rebuilt_from_the_stream(bank):
    domain, Account = bank
    repo = domain.repository_for(Account)
    account = Account.open("ann")
    repo.add(account)
    loaded = repo.get(account.id)
    loaded.deposit(10)
    repo.add(loaded)
    loaded = repo.get(account.id)
    loaded.deposit(5)
    repo.add(loaded)

    again = repo.get(account.id)
    assert (again.owner, again.balance) == ("ann", 15)
    assert again._version == 2
    stream = domain.event_store.read_stream(f"{Account._meta.stream_category}-{account.id}")
    assert [s["metadata"]["position"] for s in stream] == [0, 1, 2]
    assert stream[1]["metadata"]["type"] == f"{domain.name}.Deposited.v2"


def test_concurrent_writers_conflict_on_stream_positions(bank):
    domain, Account = bank
    repo = domain.repository_for(Account)
    account = Account.open("bob")
    repo.add(account)
    first, second = repo.get(account.id), repo.get(account.id)
    first.deposit(1)
    repo.add(first)
    second.deposit(2)
    with pytest.raises(ExpectedVersionError):
        repo.add(second)
    assert repo.get(account.id).balance == 1


def test_unknown_aggregate_is_not_found_and_queries_are_refused(bank):
    domain, Account = bank
    repo = domain.repository_for(Account)
    with pytest.raises(ObjectNotFound):
        repo.get("nope")
    with pytest.raises(NotSupportedError, match="projection"):
        repo.find(owner="ann")


def test_old_event_versions_are_upcast_when_read(bank):
    domain, Account = bank
    stored = {
        "metadata": {"id": "m1", "type": f"{domain.name}.Deposited.v1", "stream": "x-1", "position": 0},
        "data": {"cents": 1234},
    }
    event = message_from_stored(domain, stored)
    assert type(event).__name__ == "Deposited"
    assert event.amount == 12
    assert event._metadata.type == f"{domain.name}.Deposited.v2"
