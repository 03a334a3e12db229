"""``OrderFulfillmentService``: the stock check that spans Order and Inventory."""

from __future__ import annotations

from archipel import BaseDomainService, invariant
from archipel.errors import ValidationError
from examples.bookshelf import domain
from examples.bookshelf.inventory.inventory import Inventory
from examples.bookshelf.ordering.order import Order


@domain.domain_service(part_of=[Order, Inventory])
class OrderFulfillmentService(BaseDomainService):
    """Confirms an order only when every book is in stock.

    Neither aggregate can decide this alone: the order knows what it needs,
    each inventory what it has. The rule is an ``@invariant.pre``, checked
    before :meth:`confirm` runs, so a short order changes nothing.
    """

    def __init__(self, order: Order, inventories: list[Inventory]) -> None:
        super().__init__(order, *inventories)
        self.order = order
        self.inventories = {inventory.book_id: inventory for inventory in inventories}

    @invariant.pre
    def every_book_is_in_stock(self) -> None:
        titles = {item.book_id: item.title for item in self.order.items}
        shortages = []
        for book_id, wanted in self.order.quantities_by_book().items():
            inventory = self.inventories.get(book_id)
            on_hand = inventory.on_hand if inventory is not None else 0
            if on_hand < wanted:
                shortages.append(
                    f"Not enough copies of {titles[book_id]!r}: {on_hand} in stock, {wanted} ordered"
                )
        if shortages:
            raise ValidationError({"items": shortages})

    def confirm(self) -> Order:
        self.order.confirm()
        return self.order
