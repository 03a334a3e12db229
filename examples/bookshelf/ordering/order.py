"""The ``Order`` aggregate and its ``OrderItem`` entities."""

from __future__ import annotations

from archipel import BaseAggregate, BaseEntity, atomic_change, invariant
from archipel.errors import InvalidOperation, ValidationError
from archipel.fields import HasMany, Identifier, Integer, String, ValueObject
from examples.bookshelf import domain
from examples.bookshelf.address import Address
from examples.bookshelf.money import Money
from examples.bookshelf.ordering.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrderShipped,
)
from examples.bookshelf.ordering.order_line import OrderLine

PENDING, CONFIRMED, SHIPPED, CANCELLED = "PENDING", "CONFIRMED", "SHIPPED", "CANCELLED"
STATUSES = (PENDING, CONFIRMED, SHIPPED, CANCELLED)


def check_email(value: str) -> None:
    """Field validator: a plausible e-mail address (the mailer has the final word)."""
    local, at, host = value.partition("@")
    if not (local and at and "." in host.strip(".")):
        raise ValueError(f"{value!r} is not an e-mail address")


@domain.aggregate
class Order(BaseAggregate):
    """A customer's order.

    Lifecycle: PENDING -> CONFIRMED -> SHIPPED, or -> CANCELLED before it
    ships. A shipped or cancelled order is closed: nothing about it changes.
    """

    customer_name = String(max_length=150, required=True)
    customer_email = String(max_length=254, required=True, validators=[check_email])
    shipping_address = ValueObject(Address, required=True)
    status = String(max_length=20, default=PENDING, choices=STATUSES)
    items = HasMany("OrderItem")
    tracking_number = String(max_length=40)
    cancellation_reason = String(max_length=300)

    # -- rules -------------------------------------------------------------
    @invariant.post
    def must_contain_items(self) -> None:
        if not self.items:
            raise ValidationError({"items": ["An order must contain at least one book"]})

    @invariant.pre
    def closed_orders_do_not_change(self) -> None:
        if self.status in (SHIPPED, CANCELLED):
            raise ValidationError(
                {"status": [f"Order {self.id} is {self.status.lower()} and can no longer be changed"]}
            )

    # -- queries -----------------------------------------------------------
    @property
    def total(self) -> Money:
        total = Money.zero()
        for item in self.items:
            total = total.plus(item.subtotal)
        return total

    def quantities_by_book(self) -> dict[str, int]:
        """Copies per book (a book may appear on several lines)."""
        quantities: dict[str, int] = {}
        for item in self.items:
            quantities[item.book_id] = quantities.get(item.book_id, 0) + item.quantity
        return quantities

    def lines(self) -> list[OrderLine]:
        return [
            OrderLine(
                book_id=item.book_id, title=item.title, quantity=item.quantity, unit_price=item.unit_price
            )
            for item in self.items
        ]

    # -- behaviour -----------------------------------------------------------
    @classmethod
    def place(
        cls,
        *,
        customer_name: str,
        customer_email: str,
        shipping_address: Address,
        items: list[OrderItem],
        order_id: str | None = None,
    ) -> Order:
        order = cls(
            **({"id": order_id} if order_id else {}),
            customer_name=customer_name,
            customer_email=customer_email,
            shipping_address=shipping_address,
            items=items,
        )
        order.raise_(
            OrderPlaced(
                order_id=order.id,
                customer_name=order.customer_name,
                customer_email=order.customer_email,
                lines=order.lines(),
                total=order.total,
            )
        )
        return order

    def confirm(self) -> None:
        """Accept the order; stock availability is the fulfilment service's check."""
        if self.status != PENDING:
            raise InvalidOperation(f"Only a pending order can be confirmed; order {self.id} is {self.status}")
        self.status = CONFIRMED
        self.raise_(
            OrderConfirmed(
                order_id=self.id,
                customer_name=self.customer_name,
                customer_email=self.customer_email,
                lines=self.lines(),
                total=self.total,
            )
        )

    def ship(self, tracking_number: str) -> None:
        if self.status != CONFIRMED:
            raise InvalidOperation(f"Only a confirmed order can ship; order {self.id} is {self.status}")
        with atomic_change(self):  # two fields, one check of the invariants
            self.status = SHIPPED
            self.tracking_number = tracking_number
        self.raise_(
            OrderShipped(
                order_id=self.id,
                customer_name=self.customer_name,
                customer_email=self.customer_email,
                tracking_number=tracking_number,
                lines=self.lines(),
                total=self.total,
            )
        )

    def cancel(self, reason: str) -> None:
        """Cancel before shipping (the closed-order invariant refuses it afterwards)."""
        with atomic_change(self):
            self.status = CANCELLED
            self.cancellation_reason = reason
        self.raise_(
            OrderCancelled(
                order_id=self.id,
                customer_name=self.customer_name,
                customer_email=self.customer_email,
                reason=reason,
            )
        )


@domain.entity(part_of=Order)
class OrderItem(BaseEntity):
    """One line of an order; has its own identity inside the order."""

    book_id = Identifier(required=True)
    title = String(max_length=200, required=True)
    quantity = Integer(required=True, min_value=1)
    unit_price = ValueObject(Money, required=True)

    @property
    def subtotal(self) -> Money:
        return self.unit_price.times(self.quantity)
