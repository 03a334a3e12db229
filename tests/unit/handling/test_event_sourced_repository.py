"""Custom event-sourced repositories (Protean's ``@domain.event_sourced_repository``)."""

from __future__ import annotations

import uuid

import pytest

from archipel import BaseAggregate, BaseEvent, Domain, apply
from archipel.core.event_sourced_repository import BaseEventSourcedRepository
from archipel.errors import IncorrectUsageError, ObjectNotFound
from archipel.fields import Identifier, Integer, String


def build(register_repository: bool = True) -> tuple[Domain, type]:
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

    @bank.event(part_of=Account)
    class Deposited(BaseEvent):
        amount = Integer()

    if register_repository:

        @bank.event_sourced_repository(part_of=Account)
        class AccountRepository:
            def balances(self, *identities: str) -> dict[str, int]:
                return {identity: self.get(identity).balance for identity in identities}

            def first_version(self, identity: str) -> Account:
                return self.get(identity, at_version=0)

    bank.init(traverse=False)
    return bank, Account


def test_repository_for_gives_the_custom_repository_with_its_methods_and_the_standard_ones() -> None:
    bank, Account = build()
    with bank.domain_context():
        repo = bank.repository_for(Account)
        assert isinstance(repo, BaseEventSourcedRepository)
        assert type(repo).__name__ == "AccountRepository"
        ann, bob = Account.open("ann"), Account.open("bob")
        repo.add(ann)
        repo.add(bob)
        loaded = repo.get(ann.id)
        loaded.deposit(10)
        repo.add(loaded)
        assert repo.balances(ann.id, bob.id) == {ann.id: 10, bob.id: 0}
        assert repo.first_version(ann.id).balance == 0
        assert repo.get_or_none("missing") is None
        with pytest.raises(ObjectNotFound):
            repo.get("missing")
        assert repo._domain is bank


def test_without_a_custom_one_the_standard_event_sourced_repository_is_used() -> None:
    bank, Account = build(register_repository=False)
    with bank.domain_context():
        assert not isinstance(bank.repository_for(Account), BaseEventSourcedRepository)


def test_part_of_must_be_an_event_sourced_aggregate() -> None:
    shop = Domain(name="Shop", config={})

    @shop.aggregate
    class Order(BaseAggregate):
        total = Integer(default=0)

    with pytest.raises(IncorrectUsageError, match=r"part_of=Order is not an event-sourced aggregate"):

        @shop.event_sourced_repository(part_of=Order)
        class OrderRepository:
            pass

    with pytest.raises(IncorrectUsageError, match=r"OrphanRepository needs part_of="):

        @shop.event_sourced_repository
        class OrphanRepository:
            pass
