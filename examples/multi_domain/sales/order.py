"""The ``Order`` aggregate, its lines and its domain events."""

from __future__ import annotations

from typing import Any

from archipel import BaseAggregate, BaseEntity, BaseEvent
from archipel.errors import InvalidOperation
from archipel.fields import Auto, Boolean, Dict, HasMany, Identifier, Integer, List, String
from examples.multi_domain.sales import sales_domain

#: placed -> confirmed -> delivered, placed -> failed, or placed/confirmed -> cancelled
ORDER_STATUSES = ("placed", "confirmed", "failed", "delivered", "cancelled")


@sales_domain.aggregate
class Order(BaseAggregate):
    """An order (stream category ``sales::order``)."""

    order_id = Auto(identifier=True)
    customer_id = Identifier(required=True)  # correlation id: the Accounts customer
    lines = HasMany("OrderLine")
    total_cents = Integer(default=0)
    status = String(default="placed", choices=ORDER_STATUSES)
    failure_reason = String(max_length=200)

    @classmethod
    def place(cls, customer_id: str, lines: list[OrderLine]) -> Order:
        order = cls(customer_id=customer_id, lines=lines)
        order.total_cents = sum(line.quantity * line.unit_price_cents for line in lines)
        order.raise_(
            OrderPlaced(
                order_id=order.order_id,
                customer_id=customer_id,
                lines=[
                    {"product_id": line.product_id, "sku": line.sku, "quantity": line.quantity}
                    for line in lines
                ],
                total_cents=order.total_cents,
            )
        )
        return order

    def line_reserved(self, product_id: str) -> None:
        """The warehouse set a line's stock aside; the last one confirms the order.

        Redelivered or late reservations change nothing: reactions must be
        idempotent because delivery is at-least-once.
        """
        if self.status != "placed":
            return
        for line in self.lines:
            if line.product_id == product_id:
                line.reserved = True
        if all(line.reserved for line in self.lines):
            self.status = "confirmed"
            self.raise_(OrderConfirmed(order_id=self.order_id, total_cents=self.total_cents))

    def fail(self, reason: str) -> None:
        """The order cannot be served; only a placed order can fail."""
        if self.status != "placed":
            return
        self.status = "failed"
        self.failure_reason = reason
        self.raise_(OrderFailed(order_id=self.order_id, reason=reason))

    def cancel(self, reason: str) -> None:
        """The order will not be served after all (its stock went back on the shelf).

        Only a placed or confirmed order is cancelled; a repeat changes nothing.
        """
        if self.status not in ("placed", "confirmed"):
            return
        self.status = "cancelled"
        self.failure_reason = reason
        self.raise_(OrderCancelled(order_id=self.order_id, reason=reason))

    def mark_delivered(self) -> None:
        if self.status == "delivered":
            return
        if self.status != "confirmed":
            raise InvalidOperation(f"order {self.order_id} is {self.status}: it cannot be delivered")
        self.status = "delivered"
        self.raise_(OrderDelivered(order_id=self.order_id))

    def summary(self) -> dict[str, Any]:
        """What the HTTP API and the story show of an order."""
        return {
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "status": self.status,
            "total_cents": self.total_cents,
            "failure_reason": self.failure_reason,
            "lines": [
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price_cents": line.unit_price_cents,
                    "reserved": line.reserved,
                }
                for line in self.lines
            ],
        }


@sales_domain.entity(part_of=Order)
class OrderLine(BaseEntity):
    product_id = Identifier(required=True)
    sku = String(required=True, max_length=20)
    quantity = Integer(required=True, min_value=1)
    unit_price_cents = Integer(required=True, min_value=0)
    reserved = Boolean(default=False)


@sales_domain.event(part_of=Order)
class OrderPlaced(BaseEvent):
    order_id = Identifier(required=True)
    customer_id = Identifier(required=True)
    lines = List(content_type=Dict, required=True)  # [{product_id, sku, quantity}]
    total_cents = Integer(required=True)


@sales_domain.event(part_of=Order)
class OrderConfirmed(BaseEvent):
    order_id = Identifier(required=True)
    total_cents = Integer(required=True)


@sales_domain.event(part_of=Order)
class OrderFailed(BaseEvent):
    order_id = Identifier(required=True)
    reason = String(required=True)


@sales_domain.event(part_of=Order)
class OrderCancelled(BaseEvent):
    order_id = Identifier(required=True)
    reason = String(required=True)


@sales_domain.event(part_of=Order)
class OrderDelivered(BaseEvent):
    order_id = Identifier(required=True)
