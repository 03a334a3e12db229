"""Events of the ``Inventory`` aggregate (``part_of`` by name: ``inventory.py`` imports them)."""

from __future__ import annotations

from archipel import BaseEvent
from archipel.fields import Identifier, Integer, String
from examples.bookshelf import domain


@domain.event(part_of="Inventory")
class InventoryRestocked(BaseEvent):
    """Copies arrived; ``source`` says from whom (a clerk, the BookSupply feed)."""

    book_id = Identifier(required=True)
    added = Integer(required=True, min_value=1)
    on_hand = Integer(required=True)
    source = String(max_length=50)


@domain.event(part_of="Inventory")
class StockReserved(BaseEvent):
    """Copies were set aside for an order."""

    order_id = Identifier(required=True)
    book_id = Identifier(required=True)
    quantity = Integer(required=True)
    on_hand = Integer(required=True)


@domain.event(part_of="Inventory")
class StockReservationRejected(BaseEvent):
    """An order asked for more copies than were on hand (e.g. a concurrent sale won)."""

    order_id = Identifier(required=True)
    book_id = Identifier(required=True)
    requested = Integer(required=True)
    on_hand = Integer(required=True)


@domain.event(part_of="Inventory")
class StockReleased(BaseEvent):
    """A reservation was given back (the order will not ship)."""

    order_id = Identifier(required=True)
    book_id = Identifier(required=True)
    quantity = Integer(required=True)
    on_hand = Integer(required=True)
