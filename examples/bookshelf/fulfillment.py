"""``OrderFulfillmentPM``: the saga from a confirmed order to a shipped one.

Happy path::

    OrderConfirmed -> ReserveStock (per book) -> StockReserved (all) -> CreateShipment
    -> ShipmentCreated -> ShipOrder -> (OrderShipped)

Compensation, when a reservation is rejected or the carrier refuses the
shipment: release what was reserved (ReleaseStock) and cancel the order
(CancelOrder, with the reason). One instance per order, correlated by
``order_id``; its state is stored like an aggregate's.
"""

from __future__ import annotations

from archipel import BaseProcessManager, current_domain, handle
from archipel.fields import Identifier, List, String, ValueObject
from examples.bookshelf import domain
from examples.bookshelf.inventory.commands import ReleaseStock, ReserveStock
from examples.bookshelf.inventory.events import StockReservationRejected, StockReserved
from examples.bookshelf.inventory.inventory import Inventory
from examples.bookshelf.ordering.commands import CancelOrder, ShipOrder
from examples.bookshelf.ordering.events import OrderConfirmed
from examples.bookshelf.ordering.order import Order
from examples.bookshelf.ordering.order_line import OrderLine
from examples.bookshelf.shipping.commands import CreateShipment
from examples.bookshelf.shipping.events import ShipmentCreated, ShipmentFailed
from examples.bookshelf.shipping.shipment import Shipment


@domain.process_manager(aggregates=[Order, Inventory, Shipment])
class OrderFulfillmentPM(BaseProcessManager):
    """Coordinates Order, Inventory and Shipment for one order."""

    order_id = Identifier()
    lines = List(content_type=ValueObject(OrderLine))
    awaiting = List(content_type=String)  # book ids whose reservation is outstanding
    reserved = List(content_type=String)  # book ids holding copies for this order
    step = String(max_length=30, default="started")

    @handle(OrderConfirmed, start=True, correlate="order_id")
    def on_order_confirmed(self, event: OrderConfirmed) -> None:
        self.order_id = event.order_id
        self.lines = event.lines
        self.awaiting = sorted({line.book_id for line in event.lines})
        self.step = "reserving stock"
        quantities: dict[str, int] = {}
        for line in event.lines:
            quantities[line.book_id] = quantities.get(line.book_id, 0) + line.quantity
        for book_id, quantity in quantities.items():
            current_domain.process(ReserveStock(order_id=event.order_id, book_id=book_id, quantity=quantity))

    @handle(StockReserved, correlate="order_id")
    def on_stock_reserved(self, event: StockReserved) -> None:
        if event.book_id not in self.awaiting:
            return  # a duplicate answer
        self.awaiting = [book_id for book_id in self.awaiting if book_id != event.book_id]
        if self.step == "compensating":
            # the order is being cancelled: this late reservation goes straight back
            current_domain.process(ReleaseStock(order_id=self.order_id, book_id=event.book_id))
            self._finish_compensation()
            return
        self.reserved = [*self.reserved, event.book_id]
        if not self.awaiting:
            self.step = "arranging shipment"
            current_domain.process(CreateShipment(order_id=self.order_id))

    @handle(StockReservationRejected, correlate="order_id")
    def on_reservation_rejected(self, event: StockReservationRejected) -> None:
        if event.book_id not in self.awaiting:
            return
        self.awaiting = [book_id for book_id in self.awaiting if book_id != event.book_id]
        title = next((line.title for line in self.lines if line.book_id == event.book_id), event.book_id)
        self._compensate(
            f"Only {event.on_hand} copies of {title!r} were left for {event.requested} ordered: "
            "another order took them first"
        )

    @handle(ShipmentCreated, correlate="order_id")
    def on_shipment_created(self, event: ShipmentCreated) -> None:
        self.step = "shipped"
        current_domain.process(ShipOrder(order_id=event.order_id, tracking_number=event.tracking_number))
        self.mark_as_complete()

    @handle(ShipmentFailed, correlate="order_id")
    def on_shipment_failed(self, event: ShipmentFailed) -> None:
        self._compensate(event.reason)

    def _compensate(self, reason: str) -> None:
        """Undo the saga's work: release the reserved stock, then cancel the order (once)."""
        if self.step != "compensating":
            self.step = "compensating"
            for book_id in self.reserved:
                current_domain.process(ReleaseStock(order_id=self.order_id, book_id=book_id))
            self.reserved = []
            current_domain.process(CancelOrder(order_id=self.order_id, reason=reason))
        self._finish_compensation()

    def _finish_compensation(self) -> None:
        # reservations still unanswered may yet succeed: stay open to release them
        if not self.awaiting:
            self.step = "compensated"
            self.mark_as_complete()
