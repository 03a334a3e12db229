"""``InventoryCommandHandler``: restocking, reserving and releasing copies."""

from __future__ import annotations

from archipel import BaseCommandHandler, current_domain, handle
from examples.bookshelf import domain
from examples.bookshelf.inventory.commands import ReleaseStock, ReserveStock, RestockInventory
from examples.bookshelf.inventory.inventory import Inventory


@domain.command_handler(part_of=Inventory)
class InventoryCommandHandler(BaseCommandHandler):
    @handle(RestockInventory)
    def restock(self, command: RestockInventory) -> int:
        """Add copies; return how many are on hand now."""
        inventories = current_domain.repository_for(Inventory)
        inventory = inventories.get(command.book_id)
        inventory.restock(command.quantity, source=command.source)
        inventories.add(inventory)
        return int(inventory.on_hand)

    @handle(ReserveStock)
    def reserve(self, command: ReserveStock) -> None:
        # A shortage here is not an error of the sender: the stock was checked
        # when the order was confirmed, and another order may have won since.
        # Record it as a fact so that the fulfilment process can compensate.
        inventories = current_domain.repository_for(Inventory)
        inventory = inventories.get(command.book_id)
        if command.order_id in inventory.reservations or inventory.can_reserve(command.quantity):
            inventory.reserve(command.order_id, command.quantity)
        else:
            inventory.reject_reservation(command.order_id, command.quantity)
        inventories.add(inventory)

    @handle(ReleaseStock)
    def release(self, command: ReleaseStock) -> None:
        inventories = current_domain.repository_for(Inventory)
        inventory = inventories.get(command.book_id)
        inventory.release(command.order_id)
        inventories.add(inventory)
