"""Protean's ``defaults()`` hook: values that depend on other fields, set at construction."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseEntity, BaseProjection, BaseValueObject, invariant
from archipel.errors import ValidationError
from archipel.fields import HasMany, Identifier, Integer, String
from tests.unit._support import start


@pytest.fixture
def shop(make_domain):
    domain = make_domain()

    @domain.value_object
    class Money(BaseValueObject):
        amount = Integer()
        currency = String(max_length=3)

        def defaults(self):
            if self.currency is None:
                self.currency = "EUR"  # a value object may set its own fields here

    @domain.aggregate
    class Order(BaseAggregate):
        first = String()
        last = String()
        full_name = String()
        quantity = Integer(default=1)
        lines = HasMany("Line")

        def defaults(self):
            if not self.full_name:
                self.full_name = f"{self.first} {self.last}"

        @invariant.post
        def has_a_name(self):
            if not self.full_name.strip():
                raise ValidationError({"full_name": ["is required"]})

    @domain.entity(part_of=Order)
    class Line(BaseEntity):
        price = Integer()
        quantity = Integer()
        total = Integer()

        def defaults(self):
            self.total = (self.price or 0) * (self.quantity or 0)

    @domain.projection
    class Summary(BaseProjection):
        order_id = Identifier(identifier=True)
        label = String()

        def defaults(self):
            self.label = self.label or f"order {self.order_id}"

    start(domain)
    return domain, Order, Line, Money, Summary


def test_defaults_fill_values_that_depend_on_others_before_the_invariants(shop):
    domain, order_cls, line_cls, money_cls, summary_cls = shop
    order = order_cls(first="Ada", last="Lovelace", lines=[line_cls(price=3, quantity=4)])
    assert order.full_name == "Ada Lovelace"
    assert order.lines[0].total == 12
    assert order_cls(first="A", last="B", full_name="Given").full_name == "Given"
    assert money_cls(amount=5).currency == "EUR" and money_cls(amount=5, currency="USD").currency == "USD"
    assert summary_cls(order_id="o1").label == "order o1"
    with pytest.raises(ValidationError, match="full_name"):
        order_cls(first=" ", last=" ")  # the post invariant sees what defaults() set


def test_a_value_object_stays_immutable_after_construction(shop):
    *_, money_cls, _ = shop
    money = money_cls(amount=5)
    with pytest.raises(Exception, match="immutable"):
        money.currency = "USD"
    assert money == money_cls(amount=5, currency="EUR")  # nothing left behind in its state


def test_defaults_do_not_run_when_loading_what_was_saved(shop):
    domain, order_cls, *_ = shop
    with domain.domain_context():
        repo = domain.repository_for(order_cls)
        order = order_cls(first="Ada", last="Lovelace")
        repo.add(order)
        order = repo.get(order.id)
        order.first = "Grace"
        repo.add(order)
        assert repo.get(order.id).full_name == "Ada Lovelace"  # saved, not recomputed
