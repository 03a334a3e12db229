"""Other contexts' events, as the sales context reads them.

These classes belong to *this* context; nothing is imported from the
products, warehouse or delivery packages. The type string is the shared
contract, and each class declares only the fields sales cares about
(unknown fields in the payload are ignored).
"""

from archipel import BaseEvent
from archipel.fields import Boolean, Identifier, Integer, String
from examples.multi_domain.sales import sales_domain


class CatalogueProduct(BaseEvent):
    """The products context's integration event: a product's observable state."""

    product_id = Identifier(required=True)
    sku = String(required=True)
    name = String(required=True)
    current_price_cents = Integer(required=True)
    on_sale = Boolean(default=False)


class StockReserved(BaseEvent):
    order_id = Identifier(required=True)
    product_id = Identifier(required=True)
    quantity = Integer(required=True)


class StockReleased(BaseEvent):
    """The warehouse put an order's stock back (its payment was declined or never came)."""

    order_id = Identifier(required=True)
    sku = String(required=True)


class OrderRejected(BaseEvent):
    """The warehouse cannot serve the order (nothing was reserved)."""

    order_id = Identifier(required=True)
    reason = String(required=True)


class ShipmentDelivered(BaseEvent):
    order_id = Identifier(required=True)


sales_domain.register_external_event(CatalogueProduct, "Products.ProductUpdatedIntegrationEvent.v1")
sales_domain.register_external_event(StockReserved, "Warehouse.StockReserved.v1")
sales_domain.register_external_event(StockReleased, "Warehouse.StockReleased.v1")
sales_domain.register_external_event(OrderRejected, "Warehouse.OrderRejected.v1")
sales_domain.register_external_event(ShipmentDelivered, "Delivery.ShipmentDelivered.v1")
