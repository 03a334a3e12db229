"""The Bookshelf domain's flows, asserted directly on the memory adapters.

Each test starts from empty storage (``DomainFixture.domain_context`` deletes
what it wrote) and drives the domain through ``domain.process``, the broker
(for the webhook) and repositories, then reads aggregates, projections and
the event store.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from examples.bookshelf import domain
from examples.bookshelf.catalog.book import Book
from examples.bookshelf.catalog.commands import AddBook, UpdateBookPrice
from examples.bookshelf.fulfillment import OrderFulfillmentPM
from examples.bookshelf.integration.order_shipped import OrderShippedIntegrationEvent
from examples.bookshelf.inventory.commands import ReserveStock, RestockInventory
from examples.bookshelf.inventory.inventory import Inventory
from examples.bookshelf.money import Money
from examples.bookshelf.notifications.sent_email import SentEmail
from examples.bookshelf.ordering.commands import CancelOrder, ConfirmOrder, PlaceOrder
from examples.bookshelf.ordering.fulfillment_service import OrderFulfillmentService
from examples.bookshelf.ordering.order import Order
from examples.bookshelf.read_models.book_catalog import BookCatalog
from examples.bookshelf.read_models.book_report import BookReport
from examples.bookshelf.read_models.order_summary import OrderSummary
from examples.bookshelf.read_models.storefront import StorefrontView
from examples.bookshelf.shipping.shipment import Shipment

from archipel import BaseEvent, BaseEventHandler, Domain, handle
from archipel.errors import ExpectedVersionError, InvalidOperation, ValidationError
from archipel.fields import DateTime, Dict, Identifier, List, String
from archipel.integrations.pytest import DomainFixture
from tests.examples._bookshelf import MEMORY, event_types, memory_bookshelf

DUNE = "9780441013593"
EMMA = "9780141439587"


@pytest.fixture(scope="module")
def bookshelf() -> Iterator[DomainFixture]:
    with memory_bookshelf() as fixture:
        yield fixture


@pytest.fixture(autouse=True)
def fresh(bookshelf: DomainFixture) -> Iterator[None]:
    with bookshelf.domain_context():
        yield


# -- helpers ----------------------------------------------------------------------
def add_book(title: str = "Dune", isbn: str = DUNE, price: str = "18.99", stock: int = 0) -> str:
    book_id: str = domain.process(AddBook(title=title, author="Author", isbn=isbn, price=price))
    if stock:
        domain.process(RestockInventory(book_id=book_id, quantity=stock))
    return book_id


def place_order(*lines: tuple[str, int], street: str | None = "1 Main St", email: str = "ada@example.com") -> str:
    order_id: str = domain.process(
        PlaceOrder(
            customer_name="Ada",
            customer_email=email,
            shipping_address={"street": street, "city": "Springfield"},
            items=[{"book_id": book_id, "quantity": quantity} for book_id, quantity in lines],
        )
    )
    return order_id


def on_hand(book_id: str) -> int:
    return int(domain.repository_for(Inventory).get(book_id).on_hand)


def status(order_id: str) -> str:
    return str(domain.repository_for(Order).get(order_id).status)


def subjects(order_id: str) -> list[str]:
    emails = domain.query_for(SentEmail).query.filter(order_id=order_id).order_by("sent_at").all()
    return [email.subject for email in emails]


def order_stream(order_id: str) -> str:
    return f"{Order._meta.stream_category}-{order_id}"


def inventory_stream(book_id: str) -> str:
    return f"{Inventory._meta.stream_category}-{book_id}"


# -- catalogue and invariants -------------------------------------------------------------
def test_adding_a_book_opens_its_inventory_and_feeds_the_read_models() -> None:
    book_id = add_book(isbn="978-0-441-01359-3")  # hyphens are normalised away

    book = domain.repository_for(Book).get(book_id)
    assert book.isbn == DUNE
    assert book.price == Money(amount=Decimal("18.99"), currency="USD")
    assert on_hand(book_id) == 0
    assert domain.query_for(BookCatalog).get(book_id).price == Decimal("18.99")
    view = domain.query_for(StorefrontView).get(book_id)
    assert (view.in_stock, view.available) == (0, False)
    assert domain.query_for(BookReport).get(book_id).copies_sold == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"price": "0"}, "price", "A book's price must be greater than zero, not $0.00"),
        ({"price": "-1"}, "price", "must be greater than or equal to 0"),
        ({"isbn": "9780441013590"}, "isbn", "its check digit is wrong"),
        ({"isbn": "12345"}, "isbn", "expected 13 digits"),
        ({"title": None}, "title", "is required"),
        ({"currency": "usd"}, "currency", "ISO 4217"),
    ],
)
def test_invalid_books_are_refused_with_the_field_and_reason(
    changes: dict[str, Any], field: str, message: str
) -> None:
    values = {"title": "Dune", "author": "Frank Herbert", "isbn": DUNE, "price": "18.99", **changes}
    with pytest.raises(ValidationError) as error:
        domain.process(AddBook(**{k: v for k, v in values.items() if v is not None}))
    assert field in error.value.messages
    assert any(message in text for text in error.value.messages[field]), error.value.messages
    assert domain.query_for(BookCatalog).count() == 0


def test_an_isbn_is_in_the_catalogue_only_once() -> None:
    add_book()
    with pytest.raises(ValidationError, match="already in the catalogue"):
        add_book(title="Dune again")
    assert domain.query_for(BookCatalog).count() == 1


def test_repricing_updates_every_read_model_and_keeps_the_old_price_in_the_event() -> None:
    book_id = add_book(price="20.00")
    domain.process(UpdateBookPrice(book_id=book_id, price="12.50"))

    assert domain.query_for(BookCatalog).get(book_id).price == Decimal("12.50")
    assert domain.query_for(StorefrontView).get(book_id).price == Decimal("12.50")
    (changed,) = [
        m for m in domain.event_store.read_stream(f"{Book._meta.stream_category}-{book_id}")
        if m["metadata"]["type"] == "Bookshelf.BookPriceUpdated.v1"
    ]
    assert changed["data"]["old_price"]["amount"] == "20.00"
    assert changed["data"]["new_price"]["amount"] == "12.50"


def test_orders_validate_their_items_and_customer() -> None:
    book_id = add_book(stock=3)
    with pytest.raises(ValidationError, match="at least one book"):
        place_order()
    with pytest.raises(ValidationError, match="no book 'nope' in the catalogue"):
        place_order(("nope", 1))
    with pytest.raises(ValidationError, match="item 0: quantity"):
        place_order((book_id, 0))
    with pytest.raises(ValidationError, match="is not an e-mail address"):
        place_order((book_id, 1), email="ada-at-example")
    assert domain.query_for(OrderSummary).count() == 0


def test_order_prices_come_from_the_catalogue() -> None:
    dune, emma = add_book(), add_book("Emma", EMMA, "9.50")
    order_id = place_order((dune, 2), (emma, 1))

    order = domain.repository_for(Order).get(order_id)
    assert order.total == Money(amount=Decimal("47.48"))
    assert sorted((item.title, item.quantity) for item in order.items) == [("Dune", 2), ("Emma", 1)]
    summary = domain.query_for(OrderSummary).get(order_id)
    assert (summary.status, summary.copies, summary.total) == ("PENDING", 3, Decimal("47.48"))


# -- fulfilment ---------------------------------------------------------------------------
def test_happy_path_through_the_process_manager() -> None:
    dune, emma = add_book(stock=10), add_book("Emma", EMMA, "9.50", stock=4)
    order_id = place_order((dune, 2), (emma, 1))

    assert domain.process(ConfirmOrder(order_id=order_id)) == "CONFIRMED"

    order = domain.repository_for(Order).get(order_id)
    assert order.status == "SHIPPED"
    assert order.tracking_number == f"PN-{order_id.replace('-', '')[:10].upper()}"
    assert (on_hand(dune), on_hand(emma)) == (8, 3)
    assert domain.repository_for(Shipment).get(order_id).status == "CREATED"
    process = domain.repository_for(OrderFulfillmentPM).get(order_id)
    assert process.is_complete and process.step == "shipped"
    # read models
    assert domain.query_for(StorefrontView).get(dune).in_stock == 8
    report = domain.query_for(BookReport).get(dune)
    assert (report.copies_sold, report.orders, report.revenue) == (2, 1, Decimal("37.98"))
    summary = domain.query_for(OrderSummary).get(order_id)
    assert (summary.status, summary.tracking_number) == ("SHIPPED", order.tracking_number)
    # notifications: recorded in a projection, one per event
    assert subjects(order_id) == ["We have your order", f"Your books are on their way ({order.tracking_number})"]
    # the order's stream tells the story
    assert event_types(domain, order_stream(order_id)) == [
        "OrderPlaced", "OrderConfirmed", "OrderShipped", "OrderShippedIntegrationEvent",
    ]


def test_insufficient_stock_is_refused_and_changes_nothing() -> None:
    emma = add_book("Emma", EMMA, "9.50", stock=2)
    order_id = place_order((emma, 5))
    stored_before = len(domain.event_store.read_all(limit=10_000))

    with pytest.raises(ValidationError) as error:
        domain.process(ConfirmOrder(order_id=order_id))

    assert error.value.messages == {"items": ["Not enough copies of 'Emma': 2 in stock, 5 ordered"]}
    assert status(order_id) == "PENDING"
    assert on_hand(emma) == 2
    assert subjects(order_id) == []
    assert domain.repository_for(OrderFulfillmentPM).get_or_none(order_id) is None
    assert len(domain.event_store.read_all(limit=10_000)) == stored_before


def test_failed_shipment_is_compensated() -> None:
    dune, emma = add_book(stock=5), add_book("Emma", EMMA, "9.50", stock=5)
    order_id = place_order((dune, 3), (emma, 1), street=None)

    domain.process(ConfirmOrder(order_id=order_id))

    order = domain.repository_for(Order).get(order_id)
    assert order.status == "CANCELLED"
    assert "the address has no street" in order.cancellation_reason
    assert (on_hand(dune), on_hand(emma)) == (5, 5)
    assert domain.repository_for(Shipment).get(order_id).status == "FAILED"
    assert event_types(domain, inventory_stream(dune))[-2:] == ["StockReserved", "StockReleased"]
    assert domain.query_for(StorefrontView).get(dune).in_stock == 5
    assert domain.query_for(BookReport).get(dune).copies_sold == 0
    assert domain.query_for(OrderSummary).get(order_id).status == "CANCELLED"
    assert subjects(order_id) == ["We have your order", "Your order was cancelled"]
    process = domain.repository_for(OrderFulfillmentPM).get(order_id)
    assert process.is_complete and process.step == "compensated"


def test_a_rejected_reservation_releases_the_others_and_cancels(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stock is checked when the order is confirmed; another sale may take the
    # copies before they are reserved. Simulate that race by skipping the check.
    monkeypatch.setattr(OrderFulfillmentService, "_pre_invariants", ())
    dune, emma = add_book(stock=5), add_book("Emma", EMMA, "9.50", stock=2)
    order_id = place_order((dune, 1), (emma, 5))

    domain.process(ConfirmOrder(order_id=order_id))

    assert status(order_id) == "CANCELLED"
    assert (on_hand(dune), on_hand(emma)) == (5, 2)
    assert event_types(domain, inventory_stream(emma))[-1] == "StockReservationRejected"
    assert event_types(domain, inventory_stream(dune))[-2:] == ["StockReserved", "StockReleased"]
    reason = domain.repository_for(Order).get(order_id).cancellation_reason
    assert reason.startswith("Only 2 copies of 'Emma' were left for 5 ordered")
    assert domain.repository_for(Shipment).get_or_none(order_id) is None


def test_reserving_is_idempotent_per_order() -> None:
    dune = add_book(stock=5)
    domain.process(ReserveStock(order_id="order-1", book_id=dune, quantity=2))
    domain.process(ReserveStock(order_id="order-1", book_id=dune, quantity=2))
    assert on_hand(dune) == 3
    assert domain.repository_for(Inventory).get(dune).reservations == {"order-1": 2}


def test_closed_orders_do_not_change() -> None:
    dune = add_book(stock=5)
    order_id = place_order((dune, 1))
    domain.process(ConfirmOrder(order_id=order_id))
    assert status(order_id) == "SHIPPED"

    with pytest.raises(ValidationError, match="is shipped and can no longer be changed"):
        domain.process(CancelOrder(order_id=order_id, reason="changed my mind"))
    with pytest.raises(InvalidOperation, match="Only a pending order can be confirmed"):
        domain.process(ConfirmOrder(order_id=order_id))
    assert status(order_id) == "SHIPPED"


def test_a_pending_order_can_be_cancelled() -> None:
    dune = add_book(stock=5)
    order_id = place_order((dune, 1))
    domain.process(CancelOrder(order_id=order_id, reason="changed my mind"))
    assert status(order_id) == "CANCELLED"
    assert subjects(order_id) == ["Your order was cancelled"]


# -- the anti-corruption layer -------------------------------------------------------------
def webhook(payload: dict[str, Any]) -> None:
    domain.brokers["default"].publish("book_supply", payload)


def test_webhook_title_listed_becomes_add_book_and_then_a_price_update() -> None:
    listed = {
        "event": "title.listed",
        "sku": {"ean13": DUNE},
        "title": "Dune",
        "contributors": [{"name": "Frank Herbert", "role": "author"}, {"name": "X", "role": "editor"}],
        "list_price": {"cents": 1899, "currency": "USD"},
    }
    webhook(listed)
    (entry,) = domain.query_for(BookCatalog).find(isbn=DUNE).items
    assert (entry.title, entry.author, entry.price) == ("Dune", "Frank Herbert", Decimal("18.99"))

    webhook({**listed, "list_price": {"cents": 1500, "currency": "USD"}})
    assert domain.query_for(BookCatalog).count() == 1
    assert domain.query_for(BookCatalog).get(entry.book_id).price == Decimal("15.00")


def test_webhook_stock_replenished_becomes_restock_inventory() -> None:
    dune = add_book()
    webhook({"event": "stock.replenished", "sku": {"ean13": DUNE}, "units": 7})

    assert on_hand(dune) == 7
    assert domain.query_for(StorefrontView).get(dune).available is True
    (restocked,) = [
        m for m in domain.event_store.read_stream(inventory_stream(dune))
        if m["metadata"]["type"] == "Bookshelf.InventoryRestocked.v1"
    ]
    assert restocked["data"]["source"] == "BookSupply"


def test_webhook_ignores_what_it_does_not_understand() -> None:
    dune = add_book()
    stored_before = len(domain.event_store.read_all(limit=10_000))
    webhook({"event": "catalogue.reindexed"})
    webhook({"event": "stock.replenished", "sku": {"ean13": EMMA}, "units": 7})  # not sold here
    assert on_hand(dune) == 0
    assert len(domain.event_store.read_all(limit=10_000)) == stored_before


# -- the integration event --------------------------------------------------------------------
def test_integration_event_is_published_as_a_reaction_to_the_domain_event() -> None:
    dune = add_book(stock=5)
    order_id = place_order((dune, 2))
    domain.process(ConfirmOrder(order_id=order_id))

    stored = {m["metadata"]["type"]: m for m in domain.event_store.read_stream(order_stream(order_id))}
    published = stored["Bookshelf.OrderShippedIntegrationEvent.v1"]
    shipped = stored["Bookshelf.OrderShipped.v1"]
    assert OrderShippedIntegrationEvent._meta.published is True
    # raised by the handler of OrderShipped, in the same conversation
    assert published["metadata"]["causation_id"] == shipped["metadata"]["id"]
    assert published["metadata"]["correlation_id"] == shipped["metadata"]["correlation_id"]
    # plain, stable values: ISBNs (shared by every context), decimals as text
    assert published["data"]["lines"] == [
        {"isbn": DUNE, "title": "Dune", "quantity": 2, "unit_price": "18.99"}
    ]
    assert (published["data"]["total"], published["data"]["currency"]) == ("37.98", "USD")
    assert published["data"]["carrier"] == "Parcelnet"


class ShippedOrder(BaseEvent):
    """Another bounded context's own class for Bookshelf's contract."""

    order_id = Identifier(required=True)
    shipped_at = DateTime()
    tracking_number = String()
    total = String()
    currency = String()
    lines = List(content_type=Dict)


received: list[ShippedOrder] = []


@pytest.fixture
def loyalty() -> Iterator[Domain]:
    """A co-located bounded context that consumes only the integration event."""
    other = Domain(name="Loyalty", config=dict(MEMORY))
    other.register_external_event(ShippedOrder, "Bookshelf.OrderShippedIntegrationEvent.v1")

    @other.event_handler(stream_category="bookshelf::order")
    class PointsForShippedOrders(BaseEventHandler):
        @handle(ShippedOrder)
        def award(self, event: ShippedOrder) -> None:
            received.append(event)

    received.clear()
    other.init(traverse=False)
    try:
        yield other
    finally:
        other.shutdown()


def test_another_context_consumes_the_integration_event_by_its_type_string(loyalty: Domain) -> None:
    dune = add_book(stock=5)
    order_id = place_order((dune, 1))
    domain.process(ConfirmOrder(order_id=order_id))

    (event,) = received  # the domain events of the order never reach it
    assert isinstance(event, ShippedOrder)
    assert event.order_id == order_id
    assert event.total == "18.99"
    assert event.metadata.type == "Bookshelf.OrderShippedIntegrationEvent.v1"


# -- concurrency and tracing ----------------------------------------------------------------------
def test_two_stale_copies_of_one_aggregate_conflict() -> None:
    book_id = add_book()
    books = domain.repository_for(Book)
    first, second = books.get(book_id), books.get(book_id)

    first.change_price(Money(amount="15.99"))
    books.add(first)
    second.change_price(Money(amount="12.99"))
    with pytest.raises(ExpectedVersionError):
        books.add(second)

    assert books.get(book_id).price == Money(amount="15.99")
    assert domain.query_for(BookCatalog).get(book_id).price == Decimal("15.99")


def test_the_causation_chain_of_a_confirmed_order() -> None:
    dune = add_book(stock=5)
    order_id = place_order((dune, 1))
    confirm = ConfirmOrder(order_id=order_id)
    domain.process(confirm)

    messages = domain.event_store.read_correlated(confirm.metadata.correlation_id)
    by_id = {m["metadata"]["id"]: m for m in messages}

    def chain(message: dict[str, Any]) -> list[str]:
        names = []
        while message is not None:
            names.append(message["metadata"]["type"].split(".")[1])
            message = by_id.get(message["metadata"]["causation_id"])
        return names[::-1]

    (last,) = [m for m in messages if m["metadata"]["type"].endswith("IntegrationEvent.v1")]
    assert chain(last) == [
        "ConfirmOrder", "OrderConfirmed", "ReserveStock", "StockReserved", "CreateShipment",
        "ShipmentCreated", "ShipOrder", "OrderShipped", "OrderShippedIntegrationEvent",
    ]
