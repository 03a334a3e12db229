"""``ReservationHoldPM``: an order's stock stays reserved only until its payment is settled.

The saga of the warehouse's side of an order, and the example of
*compensation* (undoing the steps done so far):

- each ``StockReserved`` of the order is a step taken; the process manager
  records what undoes it, ``self.add_compensation(ReleaseStock(...))``;
- ``Payments.PaymentCaptured.v1``: the order is paid, the stock stays
  reserved; the deadline is withdrawn (``self.cancel_deadlines()``);
- ``Payments.PaymentDeclined.v1``: ``self.compensate()`` processes the
  recorded ``ReleaseStock`` commands, the latest first, each once;
- its own deadline, ``PaymentOverdue``, scheduled :data:`PAYMENT_TIMEOUT`
  after the order is placed (``self.schedule(...)``), compensates the same
  way when the payment never answers (``archipel server`` fires it, once,
  even across restarts; a test or a script calls
  ``warehouse_domain.fire_due_deadlines(now=...)``);
- ``OrderRejected``: nothing was reserved, nothing to undo.

Every undo is a ``StockReleased`` event of this context; Sales cancels the
order when it sees one (``OrderCancelled``), Payments voids a pending payment
on that, and Delivery's fulfillment closes — all through events.

Commands in a compensation are processed at once, each in its own unit of
work; a handler failing after ``compensate()`` runs them again on its retry,
so they must be idempotent: releasing what an order no longer holds changes
nothing (``StockItem.release``).
"""

from __future__ import annotations

from datetime import timedelta

from archipel import BaseEvent, BaseProcessManager, handle
from archipel.fields import Boolean, Identifier, String
from examples.multi_domain.warehouse import warehouse_domain
from examples.multi_domain.warehouse.commands import ReleaseStock
from examples.multi_domain.warehouse.external_events import (
    OrderPlaced,
    PaymentCaptured,
    PaymentDeclined,
)
from examples.multi_domain.warehouse.stock_item import OrderRejected, StockItem, StockReserved

__all__ = ["PAYMENT_TIMEOUT", "PaymentOverdue", "ReservationHoldPM"]

#: how long an order's stock waits for its payment before it goes back on the shelf
PAYMENT_TIMEOUT = timedelta(minutes=30)


@warehouse_domain.event(part_of=StockItem)
class PaymentOverdue(BaseEvent):
    """The hold's own deadline: the order's payment did not come in time."""

    order_id = Identifier(required=True)


@warehouse_domain.process_manager(stream_categories=["sales::order", "warehouse::stock_item", "payments::payment"])
class ReservationHoldPM(BaseProcessManager):
    order_id = Identifier()
    status = String(default="new")
    deadline_set = Boolean(default=False)

    @handle(OrderPlaced, start=True, correlate="order_id")
    def on_order_placed(self, event: OrderPlaced) -> None:
        self._start(event.order_id)

    # start=True here too: with asynchronous processing a reservation may be
    # seen before the order it belongs to
    @handle(StockReserved, start=True, correlate="order_id")
    def on_stock_reserved(self, event: StockReserved) -> None:
        self._start(event.order_id)
        self.add_compensation(ReleaseStock(stock_item_id=event.stock_item_id, order_id=event.order_id))
        self.status = "holding stock until paid"

    @handle(PaymentCaptured, correlate="order_id", end=True)
    def on_payment_captured(self, event: PaymentCaptured) -> None:
        self.cancel_deadlines()
        self.status = "paid: stock kept"

    @handle(PaymentDeclined, correlate="order_id", end=True)
    def on_payment_declined(self, event: PaymentDeclined) -> None:
        self.cancel_deadlines()
        released = self.compensate()
        self.status = f"payment declined: {len(released)} item(s) released"

    @handle(PaymentOverdue, correlate="order_id", end=True)
    def on_payment_overdue(self, event: PaymentOverdue) -> None:
        released = self.compensate()
        self.status = f"payment overdue: {len(released)} item(s) released"

    @handle(OrderRejected, correlate="order_id", end=True)
    def on_order_rejected(self, event: OrderRejected) -> None:
        self.cancel_deadlines()
        self.status = "rejected: nothing was reserved"

    def _start(self, order_id: str) -> None:
        self.order_id = order_id
        if not self.deadline_set:
            self.schedule(PaymentOverdue(order_id=order_id), after=PAYMENT_TIMEOUT)
            self.deadline_set = True
            self.status = "waiting for stock"
