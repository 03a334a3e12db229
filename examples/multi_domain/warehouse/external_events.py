"""Other contexts' events, as the warehouse reads them (its own classes)."""

from archipel import BaseEvent
from archipel.fields import Dict, Identifier, List, String
from examples.multi_domain.warehouse import warehouse_domain


class OrderPlaced(BaseEvent):
    """The sales context's order; the warehouse only needs what to pick."""

    order_id = Identifier(required=True)
    lines = List(content_type=Dict, required=True)  # [{product_id, sku, quantity}]


class ProductPublished(BaseEvent):
    """The products context's integration event; the warehouse ignores prices."""

    product_id = Identifier(required=True)
    sku = String(required=True)


class PaymentCaptured(BaseEvent):
    """The payments context took the money: the order's stock stays reserved."""

    order_id = Identifier(required=True)


class PaymentDeclined(BaseEvent):
    """The customer's bank refused: the order's stock goes back on the shelf."""

    order_id = Identifier(required=True)
    reason = String(required=True)


warehouse_domain.register_external_event(OrderPlaced, "Sales.OrderPlaced.v1")
warehouse_domain.register_external_event(ProductPublished, "Products.ProductUpdatedIntegrationEvent.v1")
warehouse_domain.register_external_event(PaymentCaptured, "Payments.PaymentCaptured.v1")
warehouse_domain.register_external_event(PaymentDeclined, "Payments.PaymentDeclined.v1")
