"""The HTTP side: one FastAPI app in front of the six contexts (seed 000).

``DomainContextMiddleware`` activates the context that owns a URL prefix, so
the endpoints below use ``current_domain`` and never name a domain: a
request to ``/orders/...`` runs in Sales, one to ``/delivery/...`` in
Delivery. Paths outside the map (``/health``) run without a domain.
``register_exception_handlers`` turns the domain's errors into answers:
ValidationError 400, ObjectNotFound 404, InvalidOperation 422 — JSON bodies,
never a traceback.

Bodies are plain ``dict``s on purpose: validation is the domain's job, and
its messages name the offending field.

Run it with ``uvicorn examples.multi_domain.api:app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from archipel import current_domain
from archipel.errors import ObjectNotFound
from archipel.integrations.fastapi import DomainContextMiddleware, register_exception_handlers
from examples.multi_domain import all_domains, start
from examples.multi_domain.accounts import accounts_domain
from examples.multi_domain.delivery import delivery_domain
from examples.multi_domain.payments import payments_domain
from examples.multi_domain.products import products_domain
from examples.multi_domain.sales import sales_domain
from examples.multi_domain.warehouse import warehouse_domain

__all__ = ["app"]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Every context is initialised, not only those with a URL prefix: a
    # context that is not initialised does not receive the others' events.
    start()
    yield


app = FastAPI(title="archipel multi-domain shop", lifespan=lifespan)
app.add_middleware(
    DomainContextMiddleware,
    route_domain_map={
        "/customers": accounts_domain,
        "/products": products_domain,
        "/orders": sales_domain,
        "/stock": warehouse_domain,
        "/payments": payments_domain,
        "/delivery": delivery_domain,
    },
)
register_exception_handlers(app)


def _context() -> str | None:
    """Name of the context the middleware activated for this request, or None."""
    return current_domain.name if current_domain else None


# -- accounts --------------------------------------------------------------------


@app.post("/customers", status_code=201)
def register_customer(payload: dict[str, Any]) -> dict[str, Any]:
    from examples.multi_domain.accounts.commands import RegisterCustomer

    customer_id = current_domain.process(RegisterCustomer(**payload))
    return {"customer_id": customer_id, "context": _context()}


@app.get("/customers/{customer_id}")
def get_customer(customer_id: str) -> dict[str, Any]:
    from examples.multi_domain.accounts.customer import Customer

    customer = current_domain.repository_for(Customer).get(customer_id)
    return {**customer.to_dict(), "context": _context()}


@app.put("/customers/{customer_id}/address")
def move_customer(customer_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    from examples.multi_domain.accounts.commands import MoveCustomer

    current_domain.process(MoveCustomer(customer_id=customer_id, address=payload))
    return {"customer_id": customer_id, "context": _context()}


# -- products --------------------------------------------------------------------


@app.post("/products", status_code=201)
def list_product(payload: dict[str, Any]) -> dict[str, Any]:
    from examples.multi_domain.products.commands import ListProduct

    product_id = current_domain.process(ListProduct(**payload))
    return {"product_id": product_id, "context": _context()}


@app.get("/products")
def shop_window() -> dict[str, Any]:
    from examples.multi_domain.products.read_models import ShopWindow

    cards = current_domain.query_for(ShopWindow).all()
    return {"context": _context(), "total": cards.total, "products": [c.to_dict() for c in cards]}


@app.get("/products/{product_id}")
def get_product(product_id: str) -> dict[str, Any]:
    from examples.multi_domain.products.read_models import ShopWindow

    return {**current_domain.query_for(ShopWindow).get(product_id).to_dict(), "context": _context()}


@app.post("/products/{product_id}/sale")
def put_on_sale(product_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    from examples.multi_domain.products.commands import PutProductOnSale

    current_domain.process(PutProductOnSale(**{**payload, "product_id": product_id}))
    return {"product_id": product_id, "context": _context()}


# -- sales -------------------------------------------------------------------------


@app.post("/orders", status_code=201)
def place_order(payload: dict[str, Any]) -> dict[str, Any]:
    """Place an order. With sync processing the warehouse has already answered
    when this returns, so the status is ``confirmed`` or ``failed``; with async
    processing it would still be ``placed``: clients read it again later."""
    from examples.multi_domain.sales.commands import PlaceOrder
    from examples.multi_domain.sales.order import Order

    order_id = current_domain.process(PlaceOrder(**payload))
    order = current_domain.repository_for(Order).get(order_id)
    return {**order.summary(), "context": _context()}


@app.get("/orders/{order_id}")
def get_order(order_id: str) -> dict[str, Any]:
    from examples.multi_domain.sales.order import Order

    return {**current_domain.repository_for(Order).get(order_id).summary(), "context": _context()}


# -- warehouse -------------------------------------------------------------------------


@app.get("/stock")
def stock() -> dict[str, Any]:
    from examples.multi_domain.warehouse.stock_item import StockItem

    items = current_domain.repository_for(StockItem).all()
    return {
        "context": _context(),
        "items": [
            {"sku": i.sku, "on_hand": i.on_hand, "reserved": i.reserved, "available": i.available}
            for i in items
        ],
    }


@app.post("/stock/{sku}/receipts", status_code=201)
def receive_stock(sku: str, payload: dict[str, Any]) -> dict[str, Any]:
    from examples.multi_domain.warehouse.commands import ReceiveStock

    on_hand = current_domain.process(ReceiveStock(**{**payload, "sku": sku}))
    return {"sku": sku, "on_hand": on_hand, "context": _context()}


# -- payments --------------------------------------------------------------------------


@app.post("/payments", status_code=201)
def capture_payment(payload: dict[str, Any]) -> dict[str, Any]:
    from examples.multi_domain.payments.commands import CapturePayment

    payment_id = current_domain.process(CapturePayment(**payload))
    return {"payment_id": payment_id, "context": _context()}


@app.get("/payments/{order_id}")
def payment_of(order_id: str) -> dict[str, Any]:
    from examples.multi_domain.payments.payment import Payment

    found = current_domain.repository_for(Payment).find(order_id=order_id)
    if not found.total:
        raise ObjectNotFound(f"no payment for order {order_id}")
    return {**found.items[0].to_dict(), "context": _context()}


# -- delivery --------------------------------------------------------------------------


@app.get("/delivery/recipients/{customer_id}")
def recipient(customer_id: str) -> dict[str, Any]:
    from examples.multi_domain.delivery.customer_cards import CustomerCard
    from examples.multi_domain.delivery.recipients import Recipient

    found = current_domain.repository_for(Recipient).find(customer_id=customer_id)
    if not found.total:
        raise ObjectNotFound(f"delivery knows no recipient for customer {customer_id}")
    card = current_domain.query_for(CustomerCard).get_or_none(customer_id)
    return {
        **found.items[0].to_dict(),
        "card": card.to_dict() if card else None,
        "context": _context(),
    }


@app.get("/delivery/orders/{order_id}")
def fulfillment_of(order_id: str) -> dict[str, Any]:
    """The process manager's view of an order, and its shipment if any."""
    from examples.multi_domain.delivery.fulfillment import OrderFulfillmentPM
    from examples.multi_domain.delivery.shipment import Shipment

    process = current_domain.repository_for(OrderFulfillmentPM).get(order_id)
    shipments = current_domain.repository_for(Shipment).find(order_id=order_id)
    return {
        "order_id": order_id,
        "status": process.status,
        "complete": process.is_complete,
        "shipment": shipments.items[0].to_dict() if shipments.total else None,
        "context": _context(),
    }


@app.post("/delivery/webhooks/swiftparcel", status_code=202)
def swiftparcel_webhook(payload: dict[str, Any]) -> dict[str, Any]:
    """The carrier's webhook: the raw payload goes to the broker stream, untouched.

    Only the ``SwiftParcelWebhook`` subscriber reads SwiftParcel's schema.
    """
    from examples.multi_domain.delivery.carrier import CARRIER_STREAM

    current_domain.brokers["default"].publish(CARRIER_STREAM, payload)
    return {"accepted": True, "context": _context()}


# -- no context ----------------------------------------------------------------------------


@app.get("/health")
def health() -> dict[str, Any]:
    return {
        "status": "ok",
        "context": _context(),
        "contexts": {d.name: d.initialized for d in all_domains()},
    }
