"""``entity.raise_(event)``: an entity raises events on its aggregate root, as in Protean."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseEntity, BaseEvent
from archipel.errors import IncorrectUsageError
from archipel.fields import HasMany, Integer, String
from tests.unit._support import start


@pytest.fixture
def shop(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        lines = HasMany("Line")

    @domain.entity(part_of=Order)
    class Line(BaseEntity):
        sku = String()
        quantity = Integer(default=1)

        def bump(self):
            self.quantity += 1
            self.raise_(LineBumped(sku=self.sku, quantity=self.quantity))

    @domain.event(part_of=Order)
    class LineBumped(BaseEvent):
        sku = String()
        quantity = Integer()

    @domain.aggregate
    class Invoice(BaseAggregate):
        number = String()

    @domain.event(part_of=Invoice)
    class Invoiced(BaseEvent):
        number = String()

    start(domain)
    return domain, Order, Line, LineBumped, Invoiced


def test_an_entity_s_event_lands_on_its_root_and_is_stored(shop):
    domain, order_cls, line_cls, bumped, _ = shop
    with domain.domain_context():
        order = order_cls(lines=[line_cls(sku="A")])
        order.lines[0].bump()
        assert [type(e) for e in order._events] == [bumped]
        assert order._events[0]._metadata.stream == f"{order_cls._meta.stream_category}-{order.id}"
        domain.repository_for(order_cls).add(order)
        stored = domain.event_store.read_all()
    assert [m["data"] for m in stored if m["metadata"]["type"].endswith("LineBumped.v1")] == [
        {"sku": "A", "quantity": 2}
    ]


def test_an_event_of_another_aggregate_is_refused(shop):
    _, order_cls, line_cls, _, invoiced = shop
    order = order_cls(lines=[line_cls(sku="A")])
    with pytest.raises(IncorrectUsageError, match="Invoiced is part of Invoice"):
        order.lines[0].raise_(invoiced(number="1"))
    assert order._events == []


def test_an_entity_of_no_aggregate_cannot_raise(shop):
    _, _, line_cls, bumped, _ = shop
    with pytest.raises(IncorrectUsageError, match="Line belongs to no aggregate yet"):
        line_cls(sku="B").raise_(bumped(sku="B", quantity=1))
