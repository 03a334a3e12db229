"""``InventoryOpener``: every book added to the catalogue gets an (empty) inventory."""

from __future__ import annotations

from archipel import BaseEventHandler, current_domain, handle
from examples.bookshelf import domain
from examples.bookshelf.catalog.book import Book
from examples.bookshelf.catalog.events import BookAdded
from examples.bookshelf.inventory.inventory import Inventory


@domain.event_handler(part_of=Book)
class InventoryOpener(BaseEventHandler):
    """Reacts to the catalogue: the inventory context keeps its own record per book."""

    @handle(BookAdded)
    def open_inventory(self, event: BookAdded) -> None:
        inventories = current_domain.repository_for(Inventory)
        if inventories.get_or_none(event.book_id) is None:  # redelivery: already open
            inventories.add(Inventory(book_id=event.book_id, title=event.title, on_hand=0))
