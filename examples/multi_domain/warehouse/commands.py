"""Use cases of the warehouse context."""

from __future__ import annotations

from archipel import BaseCommand, current_domain, handle
from archipel.errors import ObjectNotFound
from archipel.fields import Identifier, Integer, String
from examples.multi_domain.warehouse import warehouse_domain
from examples.multi_domain.warehouse.stock_item import StockItem


@warehouse_domain.command(part_of=StockItem)
class ReceiveStock(BaseCommand):
    sku = String(required=True, max_length=20)
    quantity = Integer(required=True, min_value=1)


@warehouse_domain.command(part_of=StockItem)
class ReleaseStock(BaseCommand):
    """Put back what an order holds on one stock item (a compensation: idempotent)."""

    stock_item_id = Identifier(required=True)
    order_id = Identifier(required=True)


@warehouse_domain.command_handler(part_of=StockItem)
class StockCommands:
    @handle(ReceiveStock)
    def receive(self, command: ReceiveStock) -> int:
        repo = current_domain.repository_for(StockItem)
        found = repo.find(sku=command.sku)
        if not found.total:
            raise ObjectNotFound(f"no stock item for SKU {command.sku!r}")
        item = found.items[0]
        item.receive(command.quantity)
        repo.add(item)
        return int(item.on_hand)

    @handle(ReleaseStock)
    def release(self, command: ReleaseStock) -> None:
        repo = current_domain.repository_for(StockItem)
        item = repo.get(command.stock_item_id)
        item.release(command.order_id)
        repo.add(item)
