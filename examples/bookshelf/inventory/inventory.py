"""The ``Inventory`` aggregate: the stock of one book, identified by the book's id."""

from __future__ import annotations

from archipel import BaseAggregate
from archipel.errors import ValidationError
from archipel.fields import Dict, Identifier, Integer, String
from examples.bookshelf import domain
from examples.bookshelf.inventory.events import (
    InventoryRestocked,
    StockReleased,
    StockReservationRejected,
    StockReserved,
)


@domain.aggregate
class Inventory(BaseAggregate):
    """Copies on hand, and which orders hold how many.

    Identified by ``book_id``: there is one inventory per book, found with
    ``repository.get(book_id)``. ``reservations`` maps order id to copies,
    which makes reserving and releasing idempotent per order (a redelivered
    command changes nothing).
    """

    book_id = Identifier(identifier=True)
    title = String(max_length=200, required=True)
    on_hand = Integer(default=0, min_value=0)
    reservations = Dict(default=dict)

    def restock(self, quantity: int, source: str = "clerk") -> None:
        if quantity < 1:
            raise ValidationError({"quantity": [f"Restock at least one copy, not {quantity}"]})
        self.on_hand = self.on_hand + quantity
        self.raise_(
            InventoryRestocked(
                book_id=self.book_id, added=quantity, on_hand=self.on_hand, source=source
            )
        )

    def can_reserve(self, quantity: int) -> bool:
        return self.on_hand >= quantity

    def reserve(self, order_id: str, quantity: int) -> None:
        """Set ``quantity`` copies aside for ``order_id`` (once per order)."""
        if order_id in self.reservations:
            return
        if not self.can_reserve(quantity):
            raise ValidationError(
                {"quantity": [f"Only {self.on_hand} of {self.title!r} on hand, {quantity} requested"]}
            )
        self.reservations = {**self.reservations, order_id: quantity}
        self.on_hand = self.on_hand - quantity
        self.raise_(
            StockReserved(
                order_id=order_id, book_id=self.book_id, quantity=quantity, on_hand=self.on_hand
            )
        )

    def reject_reservation(self, order_id: str, quantity: int) -> None:
        """Record that ``order_id`` could not get its copies (the saga compensates)."""
        self.raise_(
            StockReservationRejected(
                order_id=order_id, book_id=self.book_id, requested=quantity, on_hand=self.on_hand
            )
        )

    def release(self, order_id: str) -> None:
        """Give ``order_id``'s copies back; nothing happens if it holds none."""
        quantity = self.reservations.get(order_id)
        if quantity is None:
            return
        self.reservations = {key: value for key, value in self.reservations.items() if key != order_id}
        self.on_hand = self.on_hand + quantity
        self.raise_(
            StockReleased(
                order_id=order_id, book_id=self.book_id, quantity=quantity, on_hand=self.on_hand
            )
        )
