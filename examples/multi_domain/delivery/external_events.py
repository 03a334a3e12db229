"""Other contexts' events, as the delivery context reads them (seed 000's
"Co-located domains: Registered external events").

Every class here belongs to *this* context: nothing is imported from the
accounts, sales, payments or warehouse packages. The type string is the
shared contract; each class declares only the fields delivery needs.
"""

from archipel import BaseEvent
from archipel.fields import Dict, Identifier, List, String
from examples.multi_domain.delivery import delivery_domain

# --- accounts -----------------------------------------------------------------


class CustomerRegistered(BaseEvent):
    customer_id = Identifier(required=True)
    name = String(required=True)
    address = Dict()  # Accounts' Address value object arrives as plain data


class CustomerMoved(BaseEvent):
    customer_id = Identifier(required=True)
    address = Dict(required=True)


class CustomerFact(BaseEvent):
    """Accounts' generated fact event: the customer's whole state after a change."""

    customer_id = Identifier(required=True)
    name = String()
    email = String()
    segment = String()
    address = Dict()


# --- sales, payments, warehouse: what the process manager waits for ------------


class OrderPlaced(BaseEvent):
    order_id = Identifier(required=True)
    customer_id = Identifier(required=True)
    lines = List(content_type=Dict, required=True)


class OrderCancelled(BaseEvent):
    """Sales called the order off (its payment was declined or never came)."""

    order_id = Identifier(required=True)
    reason = String(required=True)


class PaymentCaptured(BaseEvent):
    order_id = Identifier(required=True)
    payment_id = Identifier(required=True)


class StockReserved(BaseEvent):
    order_id = Identifier(required=True)
    product_id = Identifier(required=True)


class OrderRejected(BaseEvent):
    order_id = Identifier(required=True)
    reason = String(required=True)


for event_cls, type_string in [
    (CustomerRegistered, "Accounts.CustomerRegistered.v1"),
    (CustomerMoved, "Accounts.CustomerMoved.v1"),
    (CustomerFact, "Accounts.CustomerFactEvent.v1"),
    (OrderPlaced, "Sales.OrderPlaced.v1"),
    (OrderCancelled, "Sales.OrderCancelled.v1"),
    (PaymentCaptured, "Payments.PaymentCaptured.v1"),
    (StockReserved, "Warehouse.StockReserved.v1"),
    (OrderRejected, "Warehouse.OrderRejected.v1"),
]:
    delivery_domain.register_external_event(event_cls, type_string)
