"""Commands of the inventory."""

from __future__ import annotations

from archipel import BaseCommand
from archipel.fields import Identifier, Integer, String
from examples.bookshelf import domain
from examples.bookshelf.inventory.inventory import Inventory


@domain.command(part_of=Inventory)
class RestockInventory(BaseCommand):
    """Copies of a book arrived."""

    book_id = Identifier(required=True)
    quantity = Integer(required=True, min_value=1)
    source = String(max_length=50, default="clerk")


@domain.command(part_of=Inventory)
class ReserveStock(BaseCommand):
    """Set copies aside for an order (sent by the fulfilment process)."""

    order_id = Identifier(required=True)
    book_id = Identifier(required=True)
    quantity = Integer(required=True, min_value=1)


@domain.command(part_of=Inventory)
class ReleaseStock(BaseCommand):
    """Give an order's copies back (compensation)."""

    order_id = Identifier(required=True)
    book_id = Identifier(required=True)
