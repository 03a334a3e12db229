"""Events of the ``Order`` aggregate (``part_of`` by name: ``order.py`` imports them)."""

from __future__ import annotations

from archipel import BaseEvent
from archipel.fields import Identifier, List, String, ValueObject
from examples.bookshelf import domain
from examples.bookshelf.money import Money
from examples.bookshelf.ordering.order_line import OrderLine


@domain.event(part_of="Order")
class OrderPlaced(BaseEvent):
    order_id = Identifier(required=True)
    customer_name = String(max_length=150, required=True)
    customer_email = String(max_length=254, required=True)
    lines = List(content_type=ValueObject(OrderLine), required=True)
    total = ValueObject(Money, required=True)


@domain.event(part_of="Order")
class OrderConfirmed(BaseEvent):
    """Stock was checked and the customer's order accepted: fulfilment starts."""

    order_id = Identifier(required=True)
    customer_name = String(max_length=150, required=True)
    customer_email = String(max_length=254, required=True)
    lines = List(content_type=ValueObject(OrderLine), required=True)
    total = ValueObject(Money, required=True)


@domain.event(part_of="Order")
class OrderShipped(BaseEvent):
    order_id = Identifier(required=True)
    customer_name = String(max_length=150, required=True)
    customer_email = String(max_length=254, required=True)
    tracking_number = String(max_length=40, required=True)
    lines = List(content_type=ValueObject(OrderLine), required=True)
    total = ValueObject(Money, required=True)


@domain.event(part_of="Order")
class OrderCancelled(BaseEvent):
    order_id = Identifier(required=True)
    customer_name = String(max_length=150, required=True)
    customer_email = String(max_length=254, required=True)
    reason = String(max_length=300, required=True)
