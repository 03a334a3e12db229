"""The Bookshelf story: one run of the bookstore, narrated.

:func:`run` opens the shop on the configured database and walks through
what the example shows, chapter by chapter: commands in, events out,
projections read back, the process manager and its compensation, the
anti-corruption layer, the integration event, optimistic concurrency and
the causation trace. Each chapter checks what it expects (see
:class:`~examples.bookshelf.narrator.Narrator`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rich.tree import Tree

from archipel import Q
from archipel.engine.subscriptions import delivers_raw_inline
from archipel.errors import ExpectedVersionError, ValidationError
from archipel.testing import drain
from examples.bookshelf import domain
from examples.bookshelf.catalog.book import Book
from examples.bookshelf.catalog.commands import AddBook, UpdateBookPrice
from examples.bookshelf.fulfillment import OrderFulfillmentPM
from examples.bookshelf.integration.book_supply import STREAM as SUPPLY_STREAM
from examples.bookshelf.integration.order_shipped import OrderShippedIntegrationEvent
from examples.bookshelf.inventory.commands import RestockInventory
from examples.bookshelf.inventory.inventory import Inventory
from examples.bookshelf.money import Money
from examples.bookshelf.narrator import Narrator, StoryError, explain, money, short
from examples.bookshelf.notifications.sent_email import SentEmail
from examples.bookshelf.ordering.commands import ConfirmOrder, PlaceOrder
from examples.bookshelf.ordering.order import Order
from examples.bookshelf.read_models.book_catalog import BookCatalog
from examples.bookshelf.read_models.book_report import BookReport
from examples.bookshelf.read_models.order_summary import OrderSummary
from examples.bookshelf.read_models.storefront import StorefrontView
from examples.bookshelf.shipping.shipment import Shipment

__all__ = ["run", "Story", "StoryError"]

#: What the clerk types in on the first morning: title, author, ISBN, price.
CLERK_BOOKS = [
    ("Dune", "Frank Herbert", "978-0-441-01359-3", "18.99"),
    ("Emma", "Jane Austen", "978-0-14-143958-7", "9.50"),
    ("Neuromancer", "William Gibson", "978-0-441-56959-5", "14.00"),
]


def supply_feed(dune_isbn: str) -> list[dict[str, Any]]:
    """What the BookSupply distributor's webhook posts, in its own language."""
    return [
        {
            "event": "title.listed",
            "sku": {"ean13": "9780441478125"},
            "title": "The Left Hand of Darkness",
            "contributors": [{"name": "Ursula K. Le Guin", "role": "author"}],
            "list_price": {"cents": 1600, "currency": "USD"},
        },
        {"event": "stock.replenished", "sku": {"ean13": dune_isbn}, "units": 3},
        {"event": "stock.replenished", "sku": {"ean13": "9780441478125"}, "units": 4},
        {"event": "catalogue.reindexed", "at": "2026-01-01T00:00:00Z"},
    ]


class Story:
    """The chapters, sharing what they created (ids of books and orders)."""

    def __init__(self, narrator: Narrator) -> None:
        self.say = narrator
        self.books: dict[str, str] = {}  # title -> book id
        self.orders: dict[str, str] = {}  # customer -> order id
        self.ada_confirmation: ConfirmOrder | None = None

    # -- reading helpers ----------------------------------------------------
    def on_hand(self, title: str) -> int:
        return int(domain.repository_for(Inventory).get(self.books[title]).on_hand)

    def summary(self, customer: str) -> OrderSummary:
        return domain.query_for(OrderSummary).get(self.orders[customer])

    def emails_to(self, address: str) -> list[SentEmail]:
        return list(domain.query_for(SentEmail).query.filter(recipient=address).order_by("sent_at").all())

    def refused(self, action: Callable[[], Any], error_type: type[Exception]) -> Exception:
        """Run ``action``, which must fail with ``error_type``; return the error."""
        try:
            action()
        except error_type as error:
            return error
        raise StoryError(f"expected {error_type.__name__}, but the action succeeded")

    # -- 1 ------------------------------------------------------------------
    def opening(self, location: str) -> None:
        self.say.chapter(
            "Opening the shop",
            "domain.init() imports every module of examples/bookshelf/ and registers what it "
            "finds; setup_database() creates the tables; truncate_database() empties them, so "
            "every run tells the same story.",
        )
        kinds = [
            ("aggregate", "aggregates"),
            ("entity", "entities"),
            ("value_object", "value objects"),
            ("command", "commands"),
            ("event", "events"),
            ("command_handler", "command handlers"),
            ("event_handler", "event handlers"),
            ("projection", "projections"),
            ("projector", "projectors"),
            ("domain_service", "domain services"),
            ("process_manager", "process managers"),
            ("subscriber", "subscribers"),
        ]
        rows = []
        for kind, label in kinds:
            names = sorted(domain.registry.of_kind(kind))
            rows.append((label, str(len(names)), ", ".join(names)))
        self.say.table("What domain.init() discovered", ("kind", "n", "elements"), rows)
        self.say.expect(len(domain.registry.of_kind("aggregate")) == 4, "four aggregates")
        domain.setup_database()
        domain.truncate_database()
        self.say.result(f"tables ready, earlier data deleted; the data lives in: {location}")

    # -- 2 ------------------------------------------------------------------
    def stocking(self) -> None:
        self.say.chapter(
            "Stocking the shelves",
            "A clerk adds books with AddBook commands; each BookAdded event opens an empty "
            "inventory and feeds three projections. Then the BookSupply distributor's webhook "
            "posts its own JSON, which the anti-corruption layer turns into our commands.",
        )
        for title, author, isbn, price in CLERK_BOOKS:
            self.say.step(f"AddBook {title!r} by {author}, ISBN {isbn}, ${price}")
            book_id = domain.process(AddBook(title=title, author=author, isbn=isbn, price=price))
            self.books[title] = book_id
            self.say.result(f"book {book_id} in the catalogue, inventory opened with 0 copies")
            self.say.expect(self.on_hand(title) == 0, f"an empty inventory for {title}")

        self.say.step("AddBook 'Free Lunch' at $0.00 (the Book aggregate forbids it)")
        books_before = domain.query_for(BookCatalog).count()
        error = self.refused(
            lambda: domain.process(
                AddBook(title="Free Lunch", author="Nobody", isbn="9780553283686", price="0")
            ),
            ValidationError,
        )
        self.say.rejected(f"ValidationError: {explain(error)}")
        self.say.expect("price" in str(error), "the refusal to name the price")
        self.say.expect(domain.query_for(BookCatalog).count() == books_before, "nothing stored")

        for title, copies in (("Dune", 5), ("Emma", 2), ("Neuromancer", 6)):
            self.say.step(f"RestockInventory {title} +{copies}")
            on_hand = domain.process(RestockInventory(book_id=self.books[title], quantity=copies))
            self.say.result(f"{on_hand} on hand")

        dune_isbn = domain.query_for(BookCatalog).get(self.books["Dune"]).isbn
        broker = domain.brokers["default"]
        for payload in supply_feed(dune_isbn):
            self.say.step(f"BookSupply webhook on stream {SUPPLY_STREAM!r}: {json.dumps(payload)}")
            events_before = len(domain.event_store.read_all(limit=100_000))
            broker.publish(SUPPLY_STREAM, payload)
            if not delivers_raw_inline(domain):
                # a Redis broker keeps the payload for `archipel server --domain
                # examples.bookshelf`; here one engine pass consumes it
                drain(domain)
            self.say.result(self._translation(payload, events_before))

        self.say.expect(self.on_hand("Dune") == 8, "Dune: 5 from the clerk + 3 from BookSupply")
        self.say.expect(self.on_hand("The Left Hand of Darkness") == 4, "a new title with 4 copies")

    def _translation(self, payload: dict[str, Any], events_before: int) -> str:
        """What the subscriber made of a payload, read back from the event store."""
        new = domain.event_store.read_all(after_global=events_before, limit=100_000)
        commands = [m for m in new if m["metadata"]["kind"] == "COMMAND"]
        if not commands:
            return "not our business: ignored, nothing changed"
        command = commands[0]
        name = command["metadata"]["type"].split(".")[1]
        data = command["data"]
        if name == "AddBook":
            self.books[data["title"]] = self._book_id_by_isbn(data["isbn"])
            return f"became AddBook {data['title']!r} by {data['author']} at {money(data['price'])}"
        title = domain.query_for(BookCatalog).get(data["book_id"]).title
        return f"became RestockInventory {title} +{data['quantity']} (source {data['source']!r})"

    @staticmethod
    def _book_id_by_isbn(isbn: str) -> str:
        return str(domain.query_for(BookCatalog).find(Q(isbn=isbn)).items[0].book_id)

    # -- 3 ------------------------------------------------------------------
    def storefront(self) -> None:
        self.say.chapter(
            "The storefront",
            "What customers see: the StorefrontView projection, read with "
            "domain.query_for(StorefrontView). It joins the catalogue and the inventory.",
        )
        rows = domain.query_for(StorefrontView).query.order_by("title").all()
        self.say.table(
            "StorefrontView",
            ("title", "author", "price", "in stock"),
            [(v.title, v.author, money(v.price, v.currency), str(v.in_stock)) for v in rows],
        )
        self.say.expect(rows.total == 4, "four books in the storefront")

    # -- 4 ------------------------------------------------------------------
    def happy_order(self) -> None:
        self.say.chapter(
            "Ada's order: the happy path",
            "PlaceOrder prices the items from the catalogue. ConfirmOrder asks the "
            "OrderFulfillmentService to check stock across inventories, then the "
            "OrderFulfillmentPM process manager drives the rest: reserve stock, arrange the "
            "shipment, ship the order.",
        )
        lines = [("Dune", 2), ("The Left Hand of Darkness", 1)]
        self.say.step("PlaceOrder Ada <ada@example.com>: 2 x Dune, 1 x The Left Hand of Darkness")
        order_id = domain.process(
            PlaceOrder(
                customer_name="Ada",
                customer_email="ada@example.com",
                shipping_address={"street": "12 Harbour Road", "city": "Portsmouth", "postal_code": "03801"},
                items=[{"book_id": self.books[title], "quantity": n} for title, n in lines],
            )
        )
        self.orders["Ada"] = order_id
        placed = self.summary("Ada")
        self.say.result(f"order {order_id} is {placed.status}, total {money(placed.total)}")
        self.say.expect(placed.total == Decimal("53.98"), "2 x $18.99 + $16.00 = $53.98")

        stock_before = {title: self.on_hand(title) for title, _ in lines}
        self.say.step(f"ConfirmOrder {order_id}")
        confirmation = ConfirmOrder(order_id=order_id)
        domain.process(confirmation)
        self.ada_confirmation = confirmation

        summary = self.summary("Ada")
        shipment = domain.repository_for(Shipment).get(order_id)
        process = domain.repository_for(OrderFulfillmentPM).get(order_id)
        self.say.result(
            f"order {summary.status}, {shipment.carrier} tracking number {summary.tracking_number}; "
            f"process manager finished at step {process.step!r}"
        )
        self.say.expect(summary.status == "SHIPPED", "Ada's order shipped")
        self.say.expect(process.is_complete, "the process manager to be complete")

        self.say.table(
            "Stock (Inventory aggregates)",
            ("book", "before", "after"),
            [(title, str(stock_before[title]), str(self.on_hand(title))) for title, _ in lines],
        )
        for title, copies in lines:
            self.say.expect(self.on_hand(title) == stock_before[title] - copies, f"{title} stock reduced")

        emails = self.emails_to("ada@example.com")
        self.say.table("E-mails sent (SentEmail projection)", ("to", "subject"), [(e.recipient, e.subject) for e in emails])
        self.say.expect(len(emails) == 2, "a confirmation and a shipping e-mail")

        published = self._integration_event(order_id)
        self.say.step("The integration event other bounded contexts consume (seed 003):")
        self.say.note(f"{published['metadata']['type']} on stream {published['metadata']['stream']}")
        self.say.show(_indent(json.dumps(published["data"], indent=2)))

    @staticmethod
    def _integration_event(order_id: str) -> dict[str, Any]:
        """The integration event, as stored on the order's stream (one per shipped order)."""
        category = Order._meta.stream_category
        messages = domain.event_store.read_stream(f"{category}-{order_id}")
        type_string = OrderShippedIntegrationEvent._meta.type_string
        found = [m for m in messages if m["metadata"]["type"] == type_string]
        if len(found) != 1:
            raise StoryError(f"expected one {type_string} on the order's stream, found {len(found)}")
        return found[0]

    # -- 5 ------------------------------------------------------------------
    def short_order(self) -> None:
        self.say.chapter(
            "Bob wants more than we have",
            "The OrderFulfillmentService's @invariant.pre refuses to confirm an order the "
            "inventories cannot serve. The refusal happens before any change, so nothing moves.",
        )
        self.say.step("PlaceOrder Bob <bob@example.com>: 5 x Emma")
        order_id = domain.process(
            PlaceOrder(
                customer_name="Bob",
                customer_email="bob@example.com",
                shipping_address={"street": "3 Mill Lane", "city": "Bath"},
                items=[{"book_id": self.books["Emma"], "quantity": 5}],
            )
        )
        self.orders["Bob"] = order_id
        emma_before = self.on_hand("Emma")
        self.say.step(f"ConfirmOrder {order_id}")
        error = self.refused(lambda: domain.process(ConfirmOrder(order_id=order_id)), ValidationError)
        message = explain(error)
        self.say.rejected(f"ValidationError: {message}")
        self.say.expect("Not enough copies of 'Emma': 2 in stock, 5 ordered" in message, "a clear reason")
        self.say.result(
            f"nothing changed: order still {self.summary('Bob').status}, Emma still {self.on_hand('Emma')} "
            f"in stock, {len(self.emails_to('bob@example.com'))} e-mails sent"
        )
        self.say.expect(self.summary("Bob").status == "PENDING", "Bob's order still pending")
        self.say.expect(self.on_hand("Emma") == emma_before, "Emma's stock untouched")
        self.say.expect(not self.emails_to("bob@example.com"), "no e-mail to Bob")
        self.say.expect(
            domain.repository_for(OrderFulfillmentPM).get_or_none(order_id) is None,
            "no fulfilment process started",
        )

    # -- 6 ------------------------------------------------------------------
    def undeliverable_order(self) -> None:
        self.say.chapter(
            "Carol's parcel cannot be delivered",
            "Carol's address has no street. Her order is confirmed and the stock reserved, "
            "then the carrier refuses the shipment: the process manager compensates, releasing "
            "the stock and cancelling the order.",
        )
        self.say.step("PlaceOrder Carol <carol@example.com>: 2 x Neuromancer, to 'Springfield' (no street)")
        order_id = domain.process(
            PlaceOrder(
                customer_name="Carol",
                customer_email="carol@example.com",
                shipping_address={"city": "Springfield"},
                items=[{"book_id": self.books["Neuromancer"], "quantity": 2}],
            )
        )
        self.orders["Carol"] = order_id
        before = self.on_hand("Neuromancer")
        self.say.step(f"ConfirmOrder {order_id}")
        domain.process(ConfirmOrder(order_id=order_id))

        summary = self.summary("Carol")
        shipment = domain.repository_for(Shipment).get(order_id)
        self.say.result(f"shipment {shipment.status}: {shipment.failure_reason}")
        self.say.result(f"order {summary.status}; reason recorded: {summary.note}")
        self.say.expect(summary.status == "CANCELLED", "Carol's order cancelled")
        self.say.expect(self.on_hand("Neuromancer") == before, "Neuromancer's copies released")

        category = Inventory._meta.stream_category
        history = domain.event_store.read_stream(f"{category}-{self.books['Neuromancer']}")
        self.say.table(
            "Neuromancer's inventory stream",
            ("#", "event", "order", "on hand"),
            [
                (
                    str(m["metadata"]["position"]),
                    m["metadata"]["type"].split(".")[1],
                    m["data"].get("order_id") or "-",
                    str(m["data"]["on_hand"]),
                )
                for m in history
            ],
        )
        kinds = [m["metadata"]["type"].split(".")[1] for m in history]
        self.say.expect(kinds[-2:] == ["StockReserved", "StockReleased"], "reserved, then released")
        emails = self.emails_to("carol@example.com")
        self.say.table("E-mails to Carol", ("subject", "body"), [(e.subject, e.body) for e in emails])
        self.say.expect([e.subject for e in emails][-1] == "Your order was cancelled", "a cancellation e-mail")

    # -- 7 ------------------------------------------------------------------
    def concurrency(self) -> None:
        self.say.chapter(
            "Two clerks, one price",
            "Every aggregate carries a version. Two clerks load the same book; the first save "
            "wins, the second is refused with ExpectedVersionError instead of silently "
            "overwriting the first.",
        )
        books = domain.repository_for(Book)
        book_id = self.books["Neuromancer"]
        first, second = books.get(book_id), books.get(book_id)
        self.say.step(f"clerk 1 and clerk 2 both load Neuromancer (version {first._version}, {first.price})")
        first.change_price(Money(amount="15.99"))
        books.add(first)
        self.say.result("clerk 1 saves $15.99")
        second.change_price(Money(amount="12.99"))
        error = self.refused(lambda: books.add(second), ExpectedVersionError)
        self.say.rejected(f"clerk 2's $12.99 from a stale copy: ExpectedVersionError: {error}")
        self.say.step("clerk 2 retries with UpdateBookPrice, whose handler loads the current version")
        domain.process(UpdateBookPrice(book_id=book_id, price="13.99"))
        entry = domain.query_for(BookCatalog).get(book_id)
        self.say.result(f"catalogue price now {money(entry.price)}; both changes are in the event store")
        self.say.expect(entry.price == Decimal("13.99"), "the retried price")
        category = Book._meta.stream_category
        prices = [
            m["data"]["new_price"]["amount"]
            for m in domain.event_store.read_stream(f"{category}-{book_id}")
            if m["metadata"]["type"].endswith("BookPriceUpdated.v1")
        ]
        self.say.expect(prices == ["15.99", "13.99"], "two recorded price changes, not three")

    # -- 8 ------------------------------------------------------------------
    def trace(self) -> None:
        self.say.chapter(
            "Following Ada's order",
            "Every message carries a correlation id (the request it belongs to) and a causation "
            "id (the message that caused it). domain.event_store.read_correlated() returns the "
            "whole conversation started by ConfirmOrder; causation ids make it a tree.",
        )
        assert self.ada_confirmation is not None
        correlation_id = self.ada_confirmation.metadata.correlation_id
        messages = domain.event_store.read_correlated(correlation_id)
        self.say.note(
            f"correlation id {correlation_id}: {len(messages)} messages "
            f"(also: archipel events trace {correlation_id} --domain examples.bookshelf)",
            shorten=False,
        )
        self.say.show(causation_tree(messages))
        types = [m["metadata"]["type"].split(".")[1] for m in messages]
        for expected in ("ConfirmOrder", "OrderConfirmed", "ReserveStock", "StockReserved",
                         "CreateShipment", "ShipmentCreated", "ShipOrder", "OrderShipped",
                         "OrderShippedIntegrationEvent"):
            self.say.expect(expected in types, f"{expected} in the trace")

    # -- 9 ------------------------------------------------------------------
    def back_office(self) -> None:
        self.say.chapter(
            "The back office",
            "Reports are projections too: BookReport counts a sale when it ships, OrderSummary "
            "follows each order's lifecycle.",
        )
        reports = domain.query_for(BookReport).query.order_by("-copies_sold", "title").all()
        self.say.table(
            "BookReport",
            ("title", "copies sold", "orders", "revenue"),
            [(r.title, str(r.copies_sold), str(r.orders), money(r.revenue)) for r in reports],
        )
        summaries = domain.query_for(OrderSummary).query.order_by("customer_name").all()
        self.say.table(
            "OrderSummary",
            ("customer", "status", "copies", "total", "tracking / note"),
            [
                (s.customer_name, s.status, str(s.copies), money(s.total), s.tracking_number or s.note or "-")
                for s in summaries
            ],
        )
        statuses = {s.customer_name: s.status for s in summaries}
        self.say.expect(
            statuses == {"Ada": "SHIPPED", "Bob": "PENDING", "Carol": "CANCELLED"}, "three orders"
        )
        sold = {r.title: r.copies_sold for r in reports}
        self.say.expect(sold["Dune"] == 2 and sold["Neuromancer"] == 0, "only shipped copies count")

    def stored(self) -> tuple[int, int]:
        """(events, commands) in the event store."""
        everything = domain.event_store.read_all(limit=100_000)
        commands = sum(1 for m in everything if m["metadata"]["kind"] == "COMMAND")
        return len(everything) - commands, commands


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def causation_tree(messages: list[dict[str, Any]]) -> Tree:
    """A Rich tree of stored messages, each under the message that caused it."""
    by_id = {m["metadata"]["id"]: m for m in messages}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for message in messages:
        parent = message["metadata"].get("causation_id")
        children.setdefault(parent if parent in by_id else None, []).append(message)

    def label(message: dict[str, Any]) -> str:
        meta = message["metadata"]
        name = meta["type"].split(".")[1]
        if meta["kind"] == "COMMAND":
            return f"[bold magenta]{name}[/] [dim]command[/]"
        published = " [yellow](integration event, published)[/]" if "IntegrationEvent" in name else ""
        return f"[bold green]{name}[/]{published} [dim]on {short(meta['stream'])}[/]"

    root = Tree("[bold]ConfirmOrder conversation[/]")

    def grow(node: Tree, parent: str | None) -> None:
        for message in children.get(parent, []):
            grow(node.add(label(message)), message["metadata"]["id"])

    grow(root, None)
    return root


def run(narrator: Narrator, location: str) -> None:
    """Tell the whole story on an initialised domain (inside its context)."""
    story = Story(narrator)
    narrator.title(
        "Bookshelf",
        "An online bookstore built with archipel: one bounded context, told as a story.\n"
        f"Data: {location}\n"
        f"Processing: commands {domain.config['command_processing']}, events "
        f"{domain.config['event_processing']} (in this process)",
    )
    story.opening(location)
    story.stocking()
    story.storefront()
    story.happy_order()
    story.short_order()
    story.undeliverable_order()
    story.concurrency()
    story.trace()
    story.back_office()
    events, commands = story.stored()
    narrator.show("")
    narrator.show(
        f"[bold]The end.[/] {len(story.books)} books, {len(story.orders)} orders; the event store "
        f"holds {events} events and {commands} commands. Data: {location}"
    )

