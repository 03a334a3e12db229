"""``OrderCommandHandler``: placing, confirming, shipping and cancelling orders."""

from __future__ import annotations

from typing import Any

from archipel import BaseCommandHandler, current_domain, handle
from archipel.errors import ValidationError
from examples.bookshelf import domain
from examples.bookshelf.catalog.book import Book
from examples.bookshelf.inventory.inventory import Inventory
from examples.bookshelf.ordering.commands import CancelOrder, ConfirmOrder, PlaceOrder, ShipOrder
from examples.bookshelf.ordering.fulfillment_service import OrderFulfillmentService
from examples.bookshelf.ordering.order import Order, OrderItem


@domain.command_handler(part_of=Order)
class OrderCommandHandler(BaseCommandHandler):
    @handle(PlaceOrder)
    def place_order(self, command: PlaceOrder) -> str:
        """Price the items from the catalogue, store the order (PENDING), return its id."""
        order = Order.place(
            customer_name=command.customer_name,
            customer_email=command.customer_email,
            shipping_address=command.shipping_address,
            items=[self._item(position, line) for position, line in enumerate(command.items)],
            order_id=command.order_id,
        )
        current_domain.repository_for(Order).add(order)
        return str(order.id)

    @staticmethod
    def _item(position: int, line: dict[str, Any]) -> OrderItem:
        book_id = line.get("book_id")
        book = current_domain.repository_for(Book).get_or_none(book_id) if book_id else None
        if book is None:
            raise ValidationError({"items": [f"item {position}: no book {book_id!r} in the catalogue"]})
        try:
            return OrderItem(
                book_id=book.id, title=book.title, quantity=line.get("quantity"), unit_price=book.price
            )
        except ValidationError as error:  # name the line, not just "quantity"
            raise ValidationError(
                {"items": [f"item {position}: {field} {'; '.join(messages)}"
                           for field, messages in error.messages.items()]}
            ) from None

    @handle(ConfirmOrder)
    def confirm_order(self, command: ConfirmOrder) -> str:
        """Check stock across inventories and confirm; the process manager takes over."""
        orders = current_domain.repository_for(Order)
        order = orders.get(command.order_id)
        inventories = current_domain.repository_for(Inventory)
        stock = [inventories.get(book_id) for book_id in order.quantities_by_book()]
        OrderFulfillmentService(order, stock).confirm()
        orders.add(order)  # the inventories are only read: reserving is the next step
        return str(order.status)

    @handle(ShipOrder)
    def ship_order(self, command: ShipOrder) -> None:
        orders = current_domain.repository_for(Order)
        order = orders.get(command.order_id)
        order.ship(command.tracking_number)
        orders.add(order)

    @handle(CancelOrder)
    def cancel_order(self, command: CancelOrder) -> None:
        orders = current_domain.repository_for(Order)
        order = orders.get(command.order_id)
        order.cancel(command.reason)
        orders.add(order)
