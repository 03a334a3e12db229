"""How the sales context follows what other contexts did to its orders.

Seed 001: the order's status is *derived from events* of the warehouse and
delivery contexts; sales never reads their data. Each handler subscribes to
another context's stream category and knows only the events it registered.
"""

from __future__ import annotations

from archipel import current_domain, handle
from examples.multi_domain.sales import sales_domain
from examples.multi_domain.sales.external_events import (
    OrderRejected,
    ShipmentDelivered,
    StockReleased,
    StockReserved,
)
from examples.multi_domain.sales.order import Order


@sales_domain.event_handler(part_of=Order, stream_category="warehouse::stock_item")
class FollowStockReservations:
    @handle(StockReserved)
    def on_stock_reserved(self, event: StockReserved) -> None:
        repo = current_domain.repository_for(Order)
        order = repo.get_or_none(event.order_id)
        if order is None:  # not one of ours: ignore rather than fail the warehouse
            return
        order.line_reserved(event.product_id)
        repo.add(order)

    @handle(OrderRejected)
    def on_order_rejected(self, event: OrderRejected) -> None:
        repo = current_domain.repository_for(Order)
        order = repo.get_or_none(event.order_id)
        if order is None:
            return
        order.fail(event.reason)
        repo.add(order)

    @handle(StockReleased)
    def on_stock_released(self, event: StockReleased) -> None:
        # the warehouse undid a reservation: without its stock the order is off
        repo = current_domain.repository_for(Order)
        order = repo.get_or_none(event.order_id)
        if order is None:
            return
        order.cancel("unpaid: the warehouse released its stock")
        repo.add(order)


@sales_domain.event_handler(part_of=Order, stream_category="delivery::shipment")
class FollowDeliveries:
    @handle(ShipmentDelivered)
    def on_delivered(self, event: ShipmentDelivered) -> None:
        repo = current_domain.repository_for(Order)
        order = repo.get_or_none(event.order_id)
        if order is None:
            return
        order.mark_delivered()
        repo.add(order)
