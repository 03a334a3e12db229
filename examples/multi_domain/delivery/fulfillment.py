"""``OrderFulfillmentPM``: ship an order once it is both paid and picked.

Seed 000's cross-domain process manager. It listens to three other
contexts' stream categories and keeps one state per ``order_id``:

- ``Sales.OrderPlaced.v1`` starts it and says which products to wait for;
- ``Warehouse.StockReserved.v1`` ticks products off (one event per product);
- ``Payments.PaymentCaptured.v1`` marks it paid;
- ``Warehouse.OrderRejected.v1`` ends it: nothing will ship;
- ``Sales.OrderCancelled.v1`` ends it too: the payment was declined or never
  came, and the warehouse's ``ReservationHoldPM`` put the stock back (the
  deadline and the compensation live there, with the stock they undo).

Events arrive in any order (payment before or after stock); only when both
conditions hold does it issue ``ScheduleShipment``, in its own context, and
complete. Events for unknown orders (no ``OrderPlaced`` seen) and for
completed ones are ignored by the framework.
"""

from __future__ import annotations

from archipel import BaseProcessManager, current_domain, handle
from archipel.fields import Boolean, Identifier, List, String
from examples.multi_domain.delivery import delivery_domain
from examples.multi_domain.delivery.external_events import (
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    PaymentCaptured,
    StockReserved,
)
from examples.multi_domain.delivery.shipment import ScheduleShipment


@delivery_domain.process_manager(
    stream_categories=["sales::order", "payments::payment", "warehouse::stock_item"]
)
class OrderFulfillmentPM(BaseProcessManager):
    order_id = Identifier()
    customer_id = Identifier()
    awaiting_products = List(content_type=String)
    paid = Boolean(default=False)
    status = String(default="new")
    shipment_id = Identifier()

    @handle(OrderPlaced, start=True, correlate="order_id")
    def on_order_placed(self, event: OrderPlaced) -> None:
        self.order_id = event.order_id
        self.customer_id = event.customer_id
        self.awaiting_products = sorted({line["product_id"] for line in event.lines})
        self._advance()

    @handle(StockReserved, correlate="order_id")
    def on_stock_reserved(self, event: StockReserved) -> None:
        # a new list, not remove(): assignment is what marks the state changed
        self.awaiting_products = [p for p in self.awaiting_products if p != event.product_id]
        self._advance()

    @handle(PaymentCaptured, correlate="order_id")
    def on_payment_captured(self, event: PaymentCaptured) -> None:
        self.paid = True
        self._advance()

    @handle(OrderCancelled, correlate="order_id", end=True)
    def on_order_cancelled(self, event: OrderCancelled) -> None:
        self.status = f"cancelled ({event.reason})"

    @handle(OrderRejected, correlate="order_id", end=True)
    def on_order_rejected(self, event: OrderRejected) -> None:
        self.status = "cancelled"

    def _advance(self) -> None:
        if self.awaiting_products and not self.paid:
            self.status = "awaiting stock and payment"
        elif self.awaiting_products:
            self.status = "awaiting stock"
        elif not self.paid:
            self.status = "awaiting payment"
        else:
            self.shipment_id = current_domain.process(
                ScheduleShipment(order_id=self.order_id, customer_id=self.customer_id)
            )
            self.status = "shipment scheduled"
            self.mark_as_complete()
