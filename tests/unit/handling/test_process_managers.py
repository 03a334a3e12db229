"""Process managers: start, correlate, end, ``mark_as_complete``, state per correlation id."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseProcessManager,
    current_domain,
    handle,
)
from archipel.fields import Identifier, Integer, List, String
from tests.unit._support import start


@pytest.fixture
def shop(make_domain):
    domain = make_domain("Shop")
    shipped: list[str] = []

    @domain.aggregate
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)
        status = String(default="new")

    @domain.aggregate
    class Payment(BaseAggregate):
        order_id = Identifier()

    @domain.event(part_of=Order)
    class OrderPlaced(BaseEvent):
        order_id = Identifier()
        total = Integer()

    @domain.event(part_of=Payment)
    class PaymentReceived(BaseEvent):
        order_ref = Identifier()
        amount = Integer()

    @domain.event(part_of=Order)
    class OrderCancelled(BaseEvent):
        order_id = Identifier()

    @domain.command(part_of=Order)
    class ShipOrder(BaseCommand):
        order_id = Identifier()

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(ShipOrder)
        def ship(self, command):
            shipped.append(command.order_id)

    @domain.process_manager(aggregates=[Order, Payment])
    class Checkout(BaseProcessManager):
        order_id = Identifier()
        total = Integer()
        paid = Integer(default=0)
        steps = List(content_type=String)

        @handle(OrderPlaced, start=True, correlate="order_id")
        def placed(self, event):
            self.order_id = event.order_id
            self.total = event.total
            self.steps = [*self.steps, "placed"]

        @handle(PaymentReceived, correlate={"order_id": "order_ref"})
        def paid_(self, event):
            self.paid += event.amount
            self.steps = [*self.steps, f"paid {event.amount}"]
            if self.paid >= self.total:
                self.mark_as_complete()
                current_domain.process(ShipOrder(order_id=self.order_id))

        @handle(OrderCancelled, correlate="order_id", end=True)
        def cancelled(self, event):
            self.steps = [*self.steps, "cancelled"]

    start(domain)

    def place(order_id, total):
        order = Order(order_id=order_id)
        order.raise_(OrderPlaced(order_id=order_id, total=total))
        domain.repository_for(Order).add(order)

    def pay(order_id, amount):
        payment = Payment(order_id=order_id)
        payment.raise_(PaymentReceived(order_ref=order_id, amount=amount))
        domain.repository_for(Payment).add(payment)

    def cancel(order_id):
        order = domain.repository_for(Order).get(order_id)
        order.raise_(OrderCancelled(order_id=order_id))
        domain.repository_for(Order).add(order)

    def state(order_id):
        return domain.repository_for(Checkout).get_or_none(order_id)

    with domain.domain_context():
        yield place, pay, cancel, state, shipped


def test_start_handler_creates_an_instance_per_correlation_value(shop):
    place, _, _, state, _ = shop
    place("o1", 100)
    place("o2", 50)
    first, second = state("o1"), state("o2")
    assert (first.order_id, first.total, first.steps) == ("o1", 100, ["placed"])
    assert (second.order_id, second.total) == ("o2", 50)
    assert not first.is_complete


def test_later_events_find_the_instance_by_the_correlated_field(shop):
    place, pay, _, state, shipped = shop
    place("o1", 100)
    place("o2", 100)
    pay("o1", 40)
    assert state("o1").paid == 40
    assert state("o2").paid == 0
    pay("o1", 60)
    assert state("o1").steps == ["placed", "paid 40", "paid 60"]
    assert state("o1").is_complete
    assert shipped == ["o1"]


def test_events_before_the_start_event_are_ignored(shop):
    place, pay, _, state, shipped = shop
    pay("o1", 100)
    assert state("o1") is None
    place("o1", 100)
    assert state("o1").paid == 0
    assert shipped == []


def test_a_completed_instance_ignores_further_events(shop):
    place, pay, _, state, shipped = shop
    place("o1", 10)
    pay("o1", 10)
    pay("o1", 10)
    assert state("o1").paid == 10
    assert shipped == ["o1"]


def test_end_handler_runs_then_completes_the_instance(shop):
    place, pay, cancel, state, shipped = shop
    place("o1", 10)
    cancel("o1")
    assert state("o1").steps == ["placed", "cancelled"]
    assert state("o1").is_complete
    pay("o1", 10)
    assert state("o1").paid == 0
    assert shipped == []
