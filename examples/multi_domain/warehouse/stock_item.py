"""The ``StockItem`` aggregate and its events."""

from __future__ import annotations

from archipel import BaseAggregate, BaseEvent
from archipel.errors import InvalidOperation
from archipel.fields import Auto, Dict, Identifier, Integer, String
from examples.multi_domain.warehouse import warehouse_domain


@warehouse_domain.aggregate
class StockItem(BaseAggregate):
    """Stock of one product (stream category ``warehouse::stock_item``)."""

    stock_item_id = Auto(identifier=True)
    product_id = Identifier(required=True)  # correlation id: the Products product
    sku = String(required=True, max_length=20)
    on_hand = Integer(default=0, min_value=0)
    reserved = Integer(default=0, min_value=0)
    #: what each order holds: order_id -> quantity (``reserved`` is their sum)
    holds = Dict(default=dict)

    @property
    def available(self) -> int:
        return int(self.on_hand - self.reserved)

    def receive(self, quantity: int) -> None:
        if quantity <= 0:
            raise InvalidOperation("a delivery to the warehouse brings at least one unit")
        self.on_hand += quantity
        self.raise_(
            StockReceived(
                stock_item_id=self.stock_item_id,
                product_id=self.product_id,
                sku=self.sku,
                quantity=quantity,
                on_hand=self.on_hand,
            )
        )

    def reserve(self, order_id: str, quantity: int) -> None:
        if quantity > self.available:
            raise InvalidOperation(f"{self.sku}: {quantity} wanted, {self.available} available")
        self.reserved += quantity
        self.holds = {**self.holds, order_id: quantity}  # a new dict: assignment marks it changed
        self.raise_(
            StockReserved(
                order_id=order_id,
                stock_item_id=self.stock_item_id,
                product_id=self.product_id,
                sku=self.sku,
                quantity=quantity,
            )
        )

    def release(self, order_id: str) -> None:
        """Put back on the shelf what ``order_id`` held; an order holding nothing changes nothing.

        A compensation: it may be asked twice (a retried handler), so it is idempotent.
        """
        quantity = int(self.holds.get(order_id, 0))
        if not quantity:
            return
        self.reserved -= quantity
        self.holds = {k: v for k, v in self.holds.items() if k != order_id}
        self.raise_(
            StockReleased(
                order_id=order_id,
                stock_item_id=self.stock_item_id,
                product_id=self.product_id,
                sku=self.sku,
                quantity=quantity,
            )
        )

    def reject(self, order_id: str, requested: int, reason: str) -> None:
        """Record that this item could not serve ``order_id``; nothing changes on the shelf."""
        self.raise_(
            OrderRejected(
                order_id=order_id,
                stock_item_id=self.stock_item_id,
                sku=self.sku,
                requested=requested,
                available=self.available,
                reason=reason,
            )
        )


@warehouse_domain.event(part_of=StockItem)
class StockReceived(BaseEvent):
    stock_item_id = Identifier(required=True)
    product_id = Identifier(required=True)
    sku = String(required=True)
    quantity = Integer(required=True)
    on_hand = Integer(required=True)


@warehouse_domain.event(part_of=StockItem)
class StockReserved(BaseEvent):
    order_id = Identifier(required=True)
    stock_item_id = Identifier(required=True)
    product_id = Identifier(required=True)
    sku = String(required=True)
    quantity = Integer(required=True)


@warehouse_domain.event(part_of=StockItem)
class StockReleased(BaseEvent):
    order_id = Identifier(required=True)
    stock_item_id = Identifier(required=True)
    product_id = Identifier(required=True)
    sku = String(required=True)
    quantity = Integer(required=True)


@warehouse_domain.event(part_of=StockItem)
class OrderRejected(BaseEvent):
    order_id = Identifier(required=True)
    stock_item_id = Identifier(required=True)
    sku = String(required=True)
    requested = Integer(required=True)
    available = Integer(required=True)
    reason = String(required=True)
