"""The sales context's events, as the payments context reads them (its own classes)."""

from archipel import BaseEvent
from archipel.fields import Identifier, Integer, String
from examples.multi_domain.payments import payments_domain


class OrderPlaced(BaseEvent):
    order_id = Identifier(required=True)
    customer_id = Identifier(required=True)
    total_cents = Integer(required=True)


class OrderFailed(BaseEvent):
    order_id = Identifier(required=True)
    reason = String(required=True)


class OrderCancelled(BaseEvent):
    order_id = Identifier(required=True)
    reason = String(required=True)


payments_domain.register_external_event(OrderPlaced, "Sales.OrderPlaced.v1")
payments_domain.register_external_event(OrderFailed, "Sales.OrderFailed.v1")
payments_domain.register_external_event(OrderCancelled, "Sales.OrderCancelled.v1")
