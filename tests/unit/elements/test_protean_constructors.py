"""Protean's ways to build elements: ``Aggregate.from_events``, ``ValueObject.replace``,
``Entity.from_value_object``."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import (
    BaseAggregate,
    BaseEntity,
    BaseEvent,
    BaseValueObject,
    apply,
    value_object_from_entity,
)
from archipel.errors import IncorrectUsageError, ValidationError
from archipel.fields import HasMany, Identifier, Integer, String
from tests.unit._support import start


@pytest.fixture
def bank(make_domain):
    domain = make_domain()

    @domain.aggregate(is_event_sourced=True)
    class Account(BaseAggregate):
        owner = String()
        balance = Integer(default=0)

        @apply
        def opened(self, event: Opened) -> None:
            self.id = event.account_id
            self.owner = event.owner

        @apply
        def deposited(self, event: Deposited) -> None:
            self.balance += event.amount

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()
        owner = String()

    @domain.event(part_of=Account)
    class Deposited(BaseEvent):
        amount = Integer()

    @domain.value_object
    class Money(BaseValueObject):
        amount = Integer(min_value=0)
        currency = String(max_length=3)

    @domain.aggregate
    class Order(BaseAggregate):
        lines = HasMany("Line")

    @domain.entity(part_of=Order)
    class Line(BaseEntity):
        sku = String(required=True)
        quantity = Integer(default=1)

    start(domain)
    return domain, Account, Opened, Deposited, Money, Line


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the domain is only read
@given(st.lists(st.integers(min_value=0, max_value=1000), max_size=20))
def test_from_events_folds_the_events_in_order(bank, amounts):
    _, account_cls, opened, deposited, *_ = bank
    events = [opened(account_id="a1", owner="Ada"), *(deposited(amount=a) for a in amounts)]
    account = account_cls.from_events(events)
    assert (account.id, account.owner, account.balance) == ("a1", "Ada", sum(amounts))
    assert account._version == len(amounts)  # the position of the last event


def test_from_events_needs_events(bank):
    account_cls = bank[1]
    with pytest.raises(IncorrectUsageError, match="empty list of events"):
        account_cls.from_events([])


def test_replace_gives_a_new_validated_value_object(bank):
    money_cls = bank[4]
    price = money_cls(amount=5, currency="EUR")
    cheaper = price.replace(amount=3)
    assert (cheaper.amount, cheaper.currency) == (3, "EUR") and price.amount == 5
    assert price.replace(currency=None).currency is None  # an explicit None is kept
    with pytest.raises(ValidationError):
        price.replace(amount=-1)
    with pytest.raises(IncorrectUsageError, match="Money has no field\\(s\\) colour"):
        price.replace(colour="red")


def test_from_value_object_builds_the_entity_with_a_new_identity(bank):
    line_cls = bank[5]
    snapshot_cls = value_object_from_entity(line_cls)
    line = line_cls.from_value_object(snapshot_cls(sku="A-1", quantity=2))
    assert (line.sku, line.quantity) == ("A-1", 2)
    assert line.id  # generated: the value object's None identity was left out
