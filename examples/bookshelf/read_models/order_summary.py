"""``OrderSummary``: an order as the customer and the support desk see it."""

from __future__ import annotations

from archipel import BaseProjection, BaseProjector, current_domain, handle
from archipel.fields import Decimal, Identifier, Integer, String
from examples.bookshelf import domain
from examples.bookshelf.ordering.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrderShipped,
)
from examples.bookshelf.ordering.order import Order


@domain.projection
class OrderSummary(BaseProjection):
    order_id = Identifier(identifier=True, required=True)
    customer_name = String(max_length=150, required=True)
    customer_email = String(max_length=254)
    status = String(max_length=20, required=True)
    copies = Integer(default=0)
    total = Decimal(decimal_places=2)
    currency = String(max_length=3)
    tracking_number = String(max_length=40)
    note = String(max_length=300)


@domain.projector(projector_for=OrderSummary, aggregates=[Order])
class OrderSummaryProjector(BaseProjector):
    @handle(OrderPlaced)
    def on_placed(self, event: OrderPlaced) -> None:
        current_domain.repository_for(OrderSummary).add(
            OrderSummary(
                order_id=event.order_id,
                customer_name=event.customer_name,
                customer_email=event.customer_email,
                status="PENDING",
                copies=sum(line.quantity for line in event.lines),
                total=event.total.amount,
                currency=event.total.currency,
            )
        )

    @handle(OrderConfirmed)
    def on_confirmed(self, event: OrderConfirmed) -> None:
        self._update(event.order_id, status="CONFIRMED")

    @handle(OrderShipped)
    def on_shipped(self, event: OrderShipped) -> None:
        self._update(event.order_id, status="SHIPPED", tracking_number=event.tracking_number)

    @handle(OrderCancelled)
    def on_cancelled(self, event: OrderCancelled) -> None:
        self._update(event.order_id, status="CANCELLED", note=event.reason)

    @staticmethod
    def _update(order_id: str, **changes: str) -> None:
        summaries = current_domain.repository_for(OrderSummary)
        summary = summaries.get(order_id)
        for name, value in changes.items():
            setattr(summary, name, value)
        summaries.add(summary)
