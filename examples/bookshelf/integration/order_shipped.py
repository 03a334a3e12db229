"""``OrderShippedIntegrationEvent``: the published contract for shipped orders (seed 003).

The domain event ``OrderShipped`` speaks Bookshelf's internal language and
may change whenever the model does. Other bounded contexts (billing,
loyalty, analytics) get this integration event instead: generic, stable,
versioned (type string ``Bookshelf.OrderShippedIntegrationEvent.v1``), made of
plain values only, and identifying books by ISBN, which every context shares,
rather than by Bookshelf's internal ids.

It is not raised by the use case that ships the order: a handler reacts to
the domain event, re-reads what the contract needs (the catalogue for ISBNs,
the shipment for the carrier), and raises it on the order, so it is stored
with the order in one transaction and, with the outbox enabled, relayed by
``archipel server`` until the receiving system has it.
"""

from __future__ import annotations

from archipel import BaseEvent, BaseEventHandler, current_domain, handle
from archipel.fields import DateTime, Dict, Identifier, List, String
from examples.bookshelf import domain
from examples.bookshelf.ordering.events import OrderShipped
from examples.bookshelf.ordering.order import Order
from examples.bookshelf.read_models.book_catalog import BookCatalog
from examples.bookshelf.shipping.shipment import Shipment


@domain.event(part_of=Order, published=True)
class OrderShippedIntegrationEvent(BaseEvent):
    """v1 of the contract: ``lines`` are ``{"isbn", "title", "quantity", "unit_price"}``."""

    order_id = Identifier(required=True)
    shipped_at = DateTime(required=True)
    carrier = String(max_length=50)
    tracking_number = String(max_length=40, required=True)
    currency = String(max_length=3, required=True)
    total = String(max_length=20, required=True)  # decimal as text: exact in every language
    lines = List(content_type=Dict, required=True)


@domain.event_handler(part_of=Order)
class PublishOrderShippedIntegrationEvent(BaseEventHandler):
    """Translates the domain event ``OrderShipped`` into the published contract."""

    @handle(OrderShipped)
    def publish(self, event: OrderShipped) -> None:
        orders = current_domain.repository_for(Order)
        order = orders.get(event.order_id)
        shipment = current_domain.repository_for(Shipment).get_or_none(event.order_id)
        catalog = current_domain.query_for(BookCatalog)
        lines = [
            {
                "isbn": catalog.get(line.book_id).isbn,
                "title": line.title,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price.amount),
            }
            for line in event.lines
        ]
        order.raise_(
            OrderShippedIntegrationEvent(
                order_id=event.order_id,
                shipped_at=event.metadata.time,
                carrier=shipment.carrier if shipment is not None else None,
                tracking_number=event.tracking_number,
                currency=event.total.currency,
                total=str(event.total.amount),
                lines=lines,
            )
        )
        orders.add(order)
