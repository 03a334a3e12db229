"""The warehouse's reactions to other contexts' events."""

from __future__ import annotations

from archipel import current_domain, handle
from examples.multi_domain.warehouse import warehouse_domain
from examples.multi_domain.warehouse.external_events import OrderPlaced, ProductPublished
from examples.multi_domain.warehouse.stock_item import StockItem


@warehouse_domain.event_handler(part_of=StockItem, stream_category="sales::order")
class ReserveStockForOrders:
    """All or nothing: an order is served whole or rejected whole."""

    @handle(OrderPlaced)
    def on_order_placed(self, event: OrderPlaced) -> None:
        repo = current_domain.repository_for(StockItem)
        # the same product may appear on several lines: reserve the sum once
        quantities: dict[str, tuple[str, int]] = {}
        for line in event.lines:
            sku, quantity = quantities.get(line["product_id"], (line["sku"], 0))
            quantities[line["product_id"]] = (sku, quantity + int(line["quantity"]))
        wanted: list[tuple[StockItem, int]] = []
        for product_id, (sku, quantity) in quantities.items():
            found = repo.find(product_id=product_id)
            if found.total:
                item = found.items[0]
            else:
                # A product the catalogue never announced here (this context was
                # down, say): give it an empty shelf, which then rejects the order.
                item = StockItem(product_id=product_id, sku=sku)
            if item.available < quantity:
                reason = f"{sku}: {quantity} wanted, {item.available} available"
                item.reject(event.order_id, quantity, reason)
                # Only the rejecting item is saved: nothing is reserved for
                # the other lines of the order.
                repo.add(item)
                return
            wanted.append((item, quantity))
        for item, quantity in wanted:
            item.reserve(event.order_id, quantity)
            repo.add(item)  # every reservation commits in one transaction


@warehouse_domain.event_handler(part_of=StockItem, stream_category="products::product")
class TrackCatalogue:
    """A product the shop sells gets a (still empty) place on the shelves."""

    @handle(ProductPublished)
    def on_product_published(self, event: ProductPublished) -> None:
        repo = current_domain.repository_for(StockItem)
        found = repo.find(product_id=event.product_id)
        if not found.total:
            repo.add(StockItem(product_id=event.product_id, sku=event.sku))
            return
        item = found.items[0]
        if item.sku != event.sku:
            item.sku = event.sku
            repo.add(item)
