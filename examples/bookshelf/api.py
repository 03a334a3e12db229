"""Bookshelf's HTTP API: commands in through ``domain.process``, queries out through ``domain.query_for``.

Run it with::

    uvicorn examples.bookshelf.api:app --reload

Request bodies are pydantic models that say what the domain requires (required
fields, lengths, bounds, two decimal places for money), so the OpenAPI page is
honest and a body that breaks them is FastAPI's 422 naming the field. The
domain still checks everything: a business rule that fails answers 400 with
the failing fields, an unknown id 404, a stale write 409, an operation the
current state forbids 422 (``register_exception_handlers``; every route lists
its statuses with ``error_responses``); no response ever contains a
traceback. Money travels as decimal strings ("18.99").

With asynchronous command processing (``ARCHIPEL_ENV=async`` and ``archipel
server``) a command is only *accepted* when the request ends: every command
endpoint then answers ``202 Accepted`` with ``{"status": "accepted",
"command_id", "location", ...ids}`` and a ``Location`` header naming the read
model to poll; it answers 404 until the server has projected the change. Ids
of new books and orders are chosen here, so the location is known at once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, WithJsonSchema

from archipel.integrations.fastapi import (
    DomainContextMiddleware,
    error_responses,
    register_exception_handlers,
)
from examples.bookshelf import domain, storage
from examples.bookshelf.catalog.commands import AddBook, UpdateBookPrice
from examples.bookshelf.integration.book_supply import STREAM as SUPPLY_STREAM
from examples.bookshelf.inventory.commands import RestockInventory
from examples.bookshelf.notifications.sent_email import SentEmail
from examples.bookshelf.ordering.commands import CancelOrder, ConfirmOrder, PlaceOrder
from examples.bookshelf.read_models.book_catalog import BookCatalog
from examples.bookshelf.read_models.book_report import BookReport
from examples.bookshelf.read_models.order_summary import OrderSummary
from examples.bookshelf.read_models.storefront import StorefrontView


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    storage.prepare(storage.database_url(domain))  # the SQLite file's folder, on a first run
    domain.init()
    with domain.domain_context():
        domain.setup_database()
    yield
    domain.shutdown()  # close the database connections


app = FastAPI(title="Bookshelf", description="An online bookstore built with archipel.", lifespan=lifespan)
app.add_middleware(
    DomainContextMiddleware,
    route_domain_map={
        prefix: domain
        for prefix in ("/books", "/storefront", "/inventory", "/orders", "/reports", "/webhooks")
    },
)
register_exception_handlers(app)


def queued() -> bool:
    """Whether commands are handled later, by ``archipel server`` (async processing)."""
    return domain.config.get("command_processing") == "async"


#: documented for every command endpoint: the answer with asynchronous processing
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Accepted (async processing): poll the Location header until it answers 200"}
}


def accepted(command_id: Any, location: str, **ids: Any) -> JSONResponse:
    """202: the command is stored; poll ``location`` for its outcome."""
    body = {"status": "accepted", "command_id": str(command_id), "location": location, **ids}
    return JSONResponse(body, status_code=202, headers={"Location": location})


# -- request bodies ------------------------------------------------------------
# what the commands' fields require (catalog/commands.py, ordering/commands.py, ...)
Money = Annotated[
    Decimal,
    Field(ge=0, decimal_places=2, max_digits=14, allow_inf_nan=False),
    # as the API documents it: a decimal string with at most two places ("18.99")
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$", "examples": ["18.99"]}),
]
# JSON Schema numbers are read as doubles: a bound above 2**53 (2**63 - 1 reads as 2**63) lets
# schema-valid clients send numbers the model refuses, so the API keeps to JSON's safe integers
Quantity = Annotated[int, Field(ge=1, le=2**53 - 1)]


class NewBook(BaseModel):
    title: str = Field(max_length=200)
    author: str = Field(max_length=150)
    isbn: str = Field(max_length=17, description="ISBN-10 or ISBN-13; hyphens allowed")
    price: Money
    currency: str = Field("USD", max_length=3)
    description: str | None = None


class NewPrice(BaseModel):
    price: Money


class Restock(BaseModel):
    quantity: Quantity


class ShippingAddress(BaseModel):
    street: str | None = Field(None, max_length=200)
    city: str = Field(max_length=100)
    postal_code: str | None = Field(None, max_length=12)
    country: str = Field("US", max_length=2)


class OrderLine(BaseModel):
    book_id: str = Field(max_length=255)
    quantity: Quantity


class NewOrder(BaseModel):
    customer_name: str = Field(max_length=150)
    customer_email: str = Field(max_length=254)
    shipping_address: ShippingAddress
    items: list[OrderLine] = Field(min_length=1)


class Cancellation(BaseModel):
    reason: str = Field("Cancelled at the customer's request", max_length=300)


# -- presenting read models ----------------------------------------------------------
def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _catalog_entry(entry: BookCatalog) -> dict[str, Any]:
    return {
        "book_id": entry.book_id,
        "title": entry.title,
        "author": entry.author,
        "isbn": entry.isbn,
        "price": _amount(entry.price),
        "currency": entry.currency,
    }


def _storefront_entry(view: StorefrontView) -> dict[str, Any]:
    return {
        "book_id": view.book_id,
        "title": view.title,
        "author": view.author,
        "price": _amount(view.price),
        "currency": view.currency,
        "in_stock": view.in_stock,
        "available": view.available,
    }


def _order(summary: OrderSummary) -> dict[str, Any]:
    return {
        "order_id": summary.order_id,
        "customer_name": summary.customer_name,
        "status": summary.status,
        "copies": summary.copies,
        "total": _amount(summary.total),
        "currency": summary.currency,
        "tracking_number": summary.tracking_number,
        "note": summary.note,
    }


# -- catalogue ---------------------------------------------------------------------
@app.post("/books", status_code=201, response_model=None, responses={**error_responses(400, 422), **ACCEPTED})
def add_book(body: NewBook) -> dict[str, Any] | JSONResponse:
    book_id = str(uuid.uuid4())
    result = domain.process(AddBook(book_id=book_id, **body.model_dump(exclude_none=True)))
    if queued():
        return accepted(result, f"/books/{book_id}", book_id=book_id)
    return {"book_id": result}


@app.get("/books", responses=error_responses(400, 422))
def list_books(author: str | None = None) -> dict[str, Any]:
    query = domain.query_for(BookCatalog).query.order_by("title")
    found = (query.filter(author=author) if author else query).all()
    return {"total": found.total, "books": [_catalog_entry(entry) for entry in found]}


@app.get("/books/{book_id}", responses=error_responses(404, 422))
def get_book(book_id: str) -> dict[str, Any]:
    return _catalog_entry(domain.query_for(BookCatalog).get(book_id))


@app.put("/books/{book_id}/price", response_model=None, responses={**error_responses(), **ACCEPTED})
def update_price(book_id: str, body: NewPrice) -> dict[str, Any] | JSONResponse:
    result = domain.process(UpdateBookPrice(book_id=book_id, price=body.price))
    if queued():
        return accepted(result, f"/books/{book_id}", book_id=book_id)
    return _catalog_entry(domain.query_for(BookCatalog).get(book_id))


# -- inventory and storefront ------------------------------------------------------------
@app.post("/inventory/{book_id}/restock", response_model=None, responses={**error_responses(), **ACCEPTED})
def restock(book_id: str, body: Restock) -> dict[str, Any] | JSONResponse:
    on_hand = domain.process(RestockInventory(book_id=book_id, quantity=body.quantity))
    if queued():
        return accepted(on_hand, f"/storefront/{book_id}", book_id=book_id)
    return {"book_id": book_id, "in_stock": on_hand}


@app.get("/storefront")
def storefront() -> dict[str, Any]:
    views = domain.query_for(StorefrontView).query.order_by("title").all()
    return {"total": views.total, "books": [_storefront_entry(view) for view in views]}


@app.get("/storefront/{book_id}", responses=error_responses(404, 422))
def storefront_entry(book_id: str) -> dict[str, Any]:
    return _storefront_entry(domain.query_for(StorefrontView).get(book_id))


# -- orders ----------------------------------------------------------------------------
@app.post("/orders", status_code=201, response_model=None, responses={**error_responses(), **ACCEPTED})
def place_order(body: NewOrder) -> dict[str, Any] | JSONResponse:
    order_id = str(uuid.uuid4())
    result = domain.process(PlaceOrder(order_id=order_id, **body.model_dump(exclude_none=True)))
    if queued():
        return accepted(result, f"/orders/{order_id}", order_id=order_id)
    return _order(domain.query_for(OrderSummary).get(result))


@app.post("/orders/{order_id}/confirm", response_model=None, responses={**error_responses(), **ACCEPTED})
def confirm_order(order_id: str) -> dict[str, Any] | JSONResponse:
    """Confirm and (with sync processing) run fulfilment to its end: shipped or cancelled."""
    result = domain.process(ConfirmOrder(order_id=order_id))
    if queued():
        return accepted(result, f"/orders/{order_id}", order_id=order_id)
    return _order(domain.query_for(OrderSummary).get(order_id))


@app.post("/orders/{order_id}/cancel", response_model=None, responses={**error_responses(), **ACCEPTED})
def cancel_order(order_id: str, body: Cancellation) -> dict[str, Any] | JSONResponse:
    result = domain.process(CancelOrder(order_id=order_id, reason=body.reason))
    if queued():
        return accepted(result, f"/orders/{order_id}", order_id=order_id)
    return _order(domain.query_for(OrderSummary).get(order_id))


@app.get("/orders/{order_id}", responses=error_responses(404, 422))
def get_order(order_id: str) -> dict[str, Any]:
    return _order(domain.query_for(OrderSummary).get(order_id))


@app.get("/orders/{order_id}/emails", responses=error_responses(400, 422))
def order_emails(order_id: str) -> dict[str, Any]:
    emails = domain.query_for(SentEmail).query.filter(order_id=order_id).order_by("sent_at").all()
    return {
        "total": emails.total,
        "emails": [{"to": e.recipient, "subject": e.subject, "body": e.body} for e in emails],
    }


# -- back office and partners ----------------------------------------------------------
@app.get("/reports/books")
def book_report() -> dict[str, Any]:
    reports = domain.query_for(BookReport).query.order_by("-copies_sold", "title").all()
    return {
        "books": [
            {
                "book_id": r.book_id,
                "title": r.title,
                "copies_sold": r.copies_sold,
                "orders": r.orders,
                "revenue": _amount(r.revenue),
            }
            for r in reports
        ]
    }


@app.post("/webhooks/book-supply", status_code=202, responses=error_responses(400, 422))
def book_supply_webhook(payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """The BookSupply distributor posts here; its raw JSON goes to the ``book_supply`` stream.

    With sync message processing the subscriber (the anti-corruption layer)
    runs before this returns; with async processing ``archipel server`` does.
    """
    domain.brokers["default"].publish(SUPPLY_STREAM, payload)
    return {"accepted": True}
