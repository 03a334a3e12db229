"""The narrated story of ``python -m examples.multi_domain``.

Six bounded contexts run side by side in this process; every step acts on
*one* context and then shows what the others made of it, reading each
context's own storage. Nothing here calls across contexts on their behalf:
the effects arrive through events.

The output is deterministic: the data is reset first and no generated id or
timestamp is printed (orders are called A, B, C). Every claim the narration
makes is also checked; a failed check makes the story exit with status 1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.tree import Tree

from archipel.domain.config import redact
from archipel.engine.subscriptions import delivers_raw_inline
from archipel.testing import drain
from examples.multi_domain import all_domains, start

__all__ = ["Story", "main"]

_ROOT = Path(__file__).resolve().parent

#: colour per context in tables and trees
_COLOURS = {
    "Accounts": "magenta",
    "Products": "yellow",
    "Sales": "cyan",
    "Warehouse": "green",
    "Payments": "blue",
    "Delivery": "red",
}

# SwiftParcel's webhook payloads, exactly as the carrier sends them; the
# merchant_reference is filled in with the shipment id at run time.
_LABEL_PRINTED: dict[str, Any] = {"event": "label.printed", "parcel": {"tracking_code": "SP-7731-0042"}}
_COLLECTED: dict[str, Any] = {
    "event": "parcel.collected",
    "occurred_at": "2024-05-02T09:14:00Z",
    "parcel": {"tracking_code": "SP-7731-0042"},
}
_DELIVERED: dict[str, Any] = {
    "event": "parcel.delivered",
    "occurred_at": "2024-05-03T15:40:00Z",
    "parcel": {"tracking_code": "SP-7731-0042"},
    "proof_of_delivery": {"signatory": "A. Lovelace"},
}


def euros(cents: int | None) -> str:
    return "-" if cents is None else f"€{cents / 100:,.2f}"


def tag(context: str) -> str:
    """A context's name in its colour."""
    return f"[bold {_COLOURS.get(context, 'white')}]{context}[/]"


class Story:
    """Drives the six contexts through the story and narrates it on ``console``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.checks = 0
        self.failures: list[str] = []
        domains = all_domains()
        self.domains = {d.name: d for d in domains}
        (
            self.accounts,
            self.products,
            self.sales,
            self.warehouse,
            self.payments,
            self.delivery,
        ) = domains
        self.customer_id = ""
        self.product_ids: dict[str, str] = {}
        self.orders: dict[str, str] = {}
        self.correlations: dict[str, str | None] = {}

    # -- plumbing --------------------------------------------------------------
    def boot(self) -> None:
        """Initialise every context and reset its data, so each run tells the same story."""
        start(list(self.domains.values()))
        for domain in self.domains.values():
            with domain.domain_context():
                domain.truncate_database()

    def act(self, domain: Any, command: Any) -> Any:
        """Process ``command`` in ``domain`` (its own context) and return the result."""
        with domain.domain_context():
            return domain.process(command)

    @contextmanager
    def reading(self, domain: Any) -> Iterator[Any]:
        """Read ``domain``'s own storage (its repositories need its context)."""
        with domain.domain_context():
            yield domain

    def expect(self, condition: bool, claim: str) -> None:
        """Check ``claim``; print it ticked or crossed."""
        self.checks += 1
        if condition:
            self.console.print(f"   [green]✔[/] {claim}")
        else:
            self.failures.append(claim)
            self.console.print(f"   [bold red]✘ {claim}[/]")

    def chapter(self, number: int, title: str, text: str) -> None:
        self.console.print()
        self.console.rule(f"[bold]{number}. {title}")
        self.console.print(text.strip(), highlight=False)

    def table(self, title: str, *columns: str) -> Table:
        table = Table(title=title, title_justify="left", title_style="bold", show_edge=False)
        for column in columns:
            table.add_column(column)
        return table

    # -- the story ---------------------------------------------------------------
    def run(self) -> bool:
        self.boot()
        self.configuration()
        self.catalogue()
        self.stock_arrives()
        self.customer()
        self.orders_and_stock()
        self.payment_and_shipment()
        self.carrier_webhook()
        self.product_on_sale()
        self.compensation()
        self.correlation_chains()
        self.console.print()
        if self.failures:
            self.console.print(
                Panel(f"{len(self.failures)} of {self.checks} checks failed", style="bold red")
            )
            return False
        self.console.print(
            Panel(f"All {self.checks} checks held. Six contexts, no shared data, only events.",
                  style="bold green")
        )
        return True

    def configuration(self) -> None:
        self.chapter(
            0,
            "Six bounded contexts, six configurations",
            """
Each context is a package whose __init__.py creates its own Domain and whose
domain.toml configures it. Placeholders like ${PAYMENTS_CURRENCY|EUR} take the
environment variable, or the default after the bar. Each context chooses its
storage: by default Sales and Payments keep theirs in SQLite files of their own
under .archipel/ (reset at the start of every run), the others in memory.
Everything is processed synchronously, in this one process.""",
        )
        table = self.table("", "configuration file", "Domain", "storage", "custom settings")
        for domain in self.domains.values():
            source = domain.config.source
            shown = str(Path(source).relative_to(_ROOT)) if source else "-"
            custom = ", ".join(f"{k}={v}" for k, v in sorted(domain.config["custom"].items()))
            table.add_row(shown, tag(domain.name), storage(domain), custom or "-")
        self.console.print(table)
        self.expect(
            all(d.config.source and d.config.source.name == "domain.toml" for d in self.domains.values()),
            "every context read its own domain.toml",
        )
        files = [storage(d) for d in self.domains.values() if storage(d) != "memory"]
        self.expect(
            len({d.name for d in self.domains.values()}) == 6 and len(files) == len(set(files)),
            "six distinct domains; no two share a database",
        )

    def catalogue(self) -> None:
        from examples.multi_domain.products.commands import ListProduct
        from examples.multi_domain.products.read_models import ShopWindow
        from examples.multi_domain.sales.price_list import PriceList
        from examples.multi_domain.warehouse.stock_item import StockItem

        self.chapter(
            1,
            "The catalogue lists three products",
            """
Products raises the domain event ProductListed. One of its handlers re-reads the
product and publishes the integration event Products.ProductUpdatedIntegrationEvent.v1:
Sales builds its price list from it, Warehouse opens an (empty) shelf for it.
Neither imports a single class from the products package.""",
        )
        for sku, name, price in [
            ("KB-101", "Mechanical keyboard", 8900),
            ("MS-202", "Wireless mouse", 2900),
            ("LP-303", "Desk lamp", 4500),
        ]:
            self.product_ids[sku] = self.act(
                self.products, ListProduct(sku=sku, name=name, category="desk", list_price_cents=price)
            )

        table = self.table("", "SKU", f"{tag('Products')} shop window", f"{tag('Sales')} price list",
                           f"{tag('Warehouse')} on hand")
        with self.reading(self.products):
            window = {c.sku: c for c in self.products.repository_for(ShopWindow).all().items}
        with self.reading(self.sales):
            prices = {p.sku: p for p in self.sales.repository_for(PriceList).all().items}
        with self.reading(self.warehouse):
            shelves = {s.sku: s for s in self.warehouse.repository_for(StockItem).all().items}
        for sku in self.product_ids:
            table.add_row(
                sku,
                f"{window[sku].name} {euros(window[sku].price_cents)} {escape(f'[{window[sku].badge}]')}",
                euros(prices[sku].unit_price_cents) if sku in prices else "-",
                str(shelves[sku].on_hand) if sku in shelves else "-",
            )
        self.console.print(table)
        self.expect(set(prices) == set(self.product_ids), "Sales priced every product from the integration event")
        self.expect(set(shelves) == set(self.product_ids), "Warehouse opened a shelf for every product")

    def stock_arrives(self) -> None:
        from examples.multi_domain.warehouse.commands import ReceiveStock
        from examples.multi_domain.warehouse.stock_item import StockItem

        self.chapter(2, "Stock arrives at the warehouse", "A delivery from the supplier: 5 keyboards, 4 mice, 1 lamp.")
        for sku, quantity in [("KB-101", 5), ("MS-202", 4), ("LP-303", 1)]:
            self.act(self.warehouse, ReceiveStock(sku=sku, quantity=quantity))
        with self.reading(self.warehouse):
            on_hand = {s.sku: s.on_hand for s in self.warehouse.repository_for(StockItem).all().items}
        self.console.print("   " + ", ".join(f"{sku}: {n}" for sku, n in sorted(on_hand.items())))
        self.expect(on_hand == {"KB-101": 5, "MS-202": 4, "LP-303": 1}, "the warehouse counts its stock")

    def customer(self) -> None:
        from examples.multi_domain.accounts.commands import (
            MoveCustomer,
            PromoteCustomer,
            RegisterCustomer,
        )
        from examples.multi_domain.delivery.customer_cards import CustomerCard
        from examples.multi_domain.delivery.recipients import Recipient

        self.chapter(
            3,
            "A customer registers, moves, and is promoted",
            """
Accounts is the authority for customers. Delivery keeps two copies of its own:
a Recipient, maintained by an event handler on the "accounts::customer" stream
category (CustomerRegistered, CustomerMoved), and a CustomerCard, replaced
wholesale from Accounts' fact events (Customer has fact_events=True).""",
        )
        self.customer_id = self.act(
            self.accounts,
            RegisterCustomer(
                name="Ada Lovelace",
                email="ada@example.org",
                address={"street": "12 St James's Square", "city": "London",
                         "postal_code": "SW1Y 4JH", "country": "GB"},
            ),
        )

        def delivery_view(step: str, table: Table) -> tuple[Any, Any]:
            with self.reading(self.delivery):
                recipients = self.delivery.repository_for(Recipient).find(customer_id=self.customer_id)
                card = self.delivery.repository_for(CustomerCard).get_or_none(self.customer_id)
            recipient = recipients.items[0] if recipients.total else None
            table.add_row(
                step,
                escape(recipient.delivery_address or "-") if recipient else "-",
                f"{card.name} <{card.email}>, {card.segment}, {escape(card.address or '-')}" if card else "-",
            )
            return recipients, card

        table = self.table("", "after", f"{tag('Delivery')} Recipient address", f"{tag('Delivery')} CustomerCard")
        recipients, card = delivery_view("RegisterCustomer", table)
        self.act(
            self.accounts,
            MoveCustomer(
                customer_id=self.customer_id,
                address={"street": "8 rue de Rivoli", "city": "Paris",
                         "postal_code": "75004", "country": "FR"},
            ),
        )
        moved_recipients, moved_card = delivery_view("MoveCustomer", table)
        self.act(self.accounts, PromoteCustomer(customer_id=self.customer_id, segment="gold"))
        _, gold_card = delivery_view("PromoteCustomer", table)
        self.console.print(table)

        self.expect(recipients.total == 1 and card is not None, "registering created a Recipient and a CustomerCard")
        recipient = recipients.items[0]
        self.expect(
            recipient.customer_id == self.customer_id and recipient.recipient_id != self.customer_id,
            "the Recipient has its own identity and carries customer_id as correlation id",
        )
        self.expect(
            "Paris" in (moved_recipients.items[0].delivery_address or "") and "Paris" in (moved_card.address or ""),
            "the move reached both copies",
        )
        self.expect(
            gold_card.segment == "gold" and gold_card.name == "Ada Lovelace" and "Paris" in gold_card.address,
            "the promotion's fact event replaced the whole card (nothing lost, nothing merged)",
        )

    def orders_and_stock(self) -> None:
        from examples.multi_domain.delivery.fulfillment import OrderFulfillmentPM
        from examples.multi_domain.sales.commands import PlaceOrder

        self.chapter(
            4,
            "Orders are placed; the warehouse answers",
            """
Sales never asks the warehouse for stock (seed 001). It stores the order as
"placed" and raises OrderPlaced. Warehouse reserves every line (StockReserved) or
none (OrderRejected); Sales reacts and confirms or fails the order. Payments opens
a payment for it, and voids it when the order fails. Delivery's process manager
starts tracking the order.""",
        )
        for label, lines in [
            ("A", [("KB-101", 1), ("MS-202", 2)]),
            ("B", [("LP-303", 2)]),  # one lamp on the shelf
        ]:
            command = PlaceOrder(
                customer_id=self.customer_id,
                lines=[{"product_id": self.product_ids[sku], "quantity": n} for sku, n in lines],
            )
            self.orders[label] = self.act(self.sales, command)
            self.correlations[f"order {label}"] = command.metadata.correlation_id
            self.console.print(
                f"   {tag('Sales')} PlaceOrder {label}: "
                + ", ".join(f"{n} × {sku}" for sku, n in lines)
            )
        self.console.print(self.order_table())
        a, b = self.order_view("A"), self.order_view("B")
        self.expect(a["sales"] == "confirmed", "order A: stock reserved, so Sales confirmed it")
        self.expect(
            b["sales"] == "failed" and "LP-303: 2 wanted, 1 available" in (b["reason"] or ""),
            "order B: the warehouse rejected it, so Sales failed it, with the warehouse's reason",
        )
        self.expect(
            a["payments"] == "pending" and b["payments"] == "voided",
            "Payments opened both payments and voided B's when the order failed",
        )
        self.expect(
            a["warehouse"] == {"KB-101": 1, "MS-202": 2, "LP-303": 0},
            "only order A's lines are reserved (B reserved nothing)",
        )
        with self.reading(self.delivery):
            pm_b = self.delivery.repository_for(OrderFulfillmentPM).get(self.orders["B"])
        self.expect(
            a["delivery"] == "awaiting payment" and pm_b.status == "cancelled" and pm_b.is_complete,
            "the process manager waits for A's payment and closed B",
        )

    def order_view(self, label: str) -> dict[str, Any]:
        """What each context knows about order ``label``, read from its own storage."""
        from examples.multi_domain.delivery.fulfillment import OrderFulfillmentPM
        from examples.multi_domain.delivery.shipment import Shipment
        from examples.multi_domain.payments.payment import Payment
        from examples.multi_domain.sales.order import Order
        from examples.multi_domain.warehouse.stock_item import StockItem

        order_id = self.orders[label]
        with self.reading(self.sales):
            order = self.sales.repository_for(Order).get(order_id)
        with self.reading(self.payments):
            payments = self.payments.repository_for(Payment).find(order_id=order_id).items
        with self.reading(self.warehouse):
            reserved = {s.sku: s.reserved for s in self.warehouse.repository_for(StockItem).all().items}
        with self.reading(self.delivery):
            pm = self.delivery.repository_for(OrderFulfillmentPM).get_or_none(order_id)
            shipments = self.delivery.repository_for(Shipment).find(order_id=order_id).items
        return {
            "sales": order.status,
            "total": order.total_cents,
            "reason": order.failure_reason,
            "payments": payments[0].status if payments else None,
            "warehouse": reserved,
            "delivery": pm.status if pm else None,
            "shipment": shipments[0] if shipments else None,
        }

    def order_table(self) -> Table:
        table = self.table(
            "",
            "order",
            f"{tag('Sales')} status",
            "total",
            f"{tag('Payments')} payment",
            f"{tag('Delivery')} process manager",
            f"{tag('Delivery')} shipment",
        )
        for label in self.orders:
            view = self.order_view(label)
            shipment = view["shipment"]
            table.add_row(
                label,
                view["sales"] + (f" ({view['reason']})" if view["reason"] else ""),
                euros(view["total"]),
                view["payments"] or "-",
                view["delivery"] or "-",
                shipment.status if shipment else "-",
            )
        return table

    def payment_and_shipment(self) -> None:
        from archipel.errors import InvalidOperation
        from examples.multi_domain.payments.commands import CapturePayment

        self.chapter(
            5,
            "Payment plus stock: the process manager ships",
            """
OrderFulfillmentPM (Delivery) correlates order_id across three other contexts'
streams: sales::order, payments::payment and warehouse::stock_item. It has seen
OrderPlaced and both StockReserved; when PaymentCaptured arrives it issues
ScheduleShipment in its own context. The address comes from Delivery's Recipient.""",
        )
        try:
            self.act(self.payments, CapturePayment(order_id=self.orders["A"], amount_cents=100))
            refused = ""
        except InvalidOperation as exc:
            refused = str(exc).replace(self.orders["A"], "A")  # no generated ids in the story
        self.console.print(f"   {tag('Payments')} CapturePayment A, €1.00 → refused: {escape(refused)}")
        self.expect(bool(refused), "a wrong amount is refused by the Payment aggregate")

        total = self.order_view("A")["total"]
        command = CapturePayment(order_id=self.orders["A"], amount_cents=total)
        self.act(self.payments, command)
        self.correlations["payment of order A"] = command.metadata.correlation_id
        self.console.print(f"   {tag('Payments')} CapturePayment A, {euros(total)} → captured")
        self.console.print(self.order_table())
        view = self.order_view("A")
        self.expect(view["payments"] == "captured", "Payments captured the payment")
        self.expect(view["delivery"] == "shipment scheduled", "the process manager completed")
        self.expect(
            view["shipment"] is not None and "Paris" in (view["shipment"].address or ""),
            "the shipment goes to the address Ada moved to (Delivery's own copy)",
        )

    def carrier_webhook(self) -> None:
        from examples.multi_domain.delivery.carrier import CARRIER_STREAM

        self.chapter(
            6,
            "The carrier's webhook, through the anti-corruption layer",
            f"""
SwiftParcel reports in its own words. Its payloads are published raw, as dicts,
to Delivery's broker stream "{CARRIER_STREAM}"; the SwiftParcelWebhook subscriber
translates the two it understands into RecordPickup / RecordDelivery and ignores
the rest. Sales learns the order was delivered from Delivery's ShipmentDelivered.""",
        )
        shipment_id = self.order_view("A")["shipment"].shipment_id
        broker = self.delivery.brokers["default"]
        for payload in (_LABEL_PRINTED, _COLLECTED, _DELIVERED, _DELIVERED):
            raw = {**payload, "parcel": {**payload["parcel"], "merchant_reference": shipment_id}}
            with self.reading(self.delivery):
                broker.publish(CARRIER_STREAM, raw)
            self.console.print(f"   SwiftParcel → {CARRIER_STREAM}: {raw['event']}")
        with self.reading(self.delivery):
            if not delivers_raw_inline(self.delivery):
                # a Redis broker keeps the payloads for `archipel server --domain
                # examples.multi_domain.delivery`; here one engine pass consumes them
                drain(self.delivery)
        view = self.order_view("A")
        shipment = view["shipment"]
        self.console.print(
            f"   {tag('Delivery')} shipment {shipment.status}, tracking {shipment.tracking_code}, "
            f"signed by {shipment.signed_by}; {tag('Sales')} order A {view['sales']}"
        )
        self.expect(
            shipment.status == "delivered" and shipment.tracking_code == "SP-7731-0042",
            "the subscriber translated the carrier's payloads (the unknown one was ignored)",
        )
        self.expect(view["sales"] == "delivered", "Sales marked order A delivered from Delivery's event")
        with self.reading(self.delivery):
            delivered = [
                m for m in self.delivery.event_store.read_all()
                if m["metadata"]["type"] == "Delivery.ShipmentDelivered.v1"
            ]
        self.expect(len(delivered) == 1, "the repeated 'parcel.delivered' changed nothing")

    def product_on_sale(self) -> None:
        from examples.multi_domain.products.commands import PutProductOnSale
        from examples.multi_domain.products.read_models import Deal, ShopWindow
        from examples.multi_domain.sales.commands import PlaceOrder
        from examples.multi_domain.sales.price_list import PriceList

        self.chapter(
            7,
            "A product goes on sale: domain event inside, integration event outside",
            """
Seed 003. The use case only puts the product on sale; the domain event
ProductPutOnSale has three handlers in Products: the shop window, the deals
board, and the publisher of the integration event. Sales and Warehouse receive
the integration event only; ProductPutOnSale never leaves Products.""",
        )
        command = PutProductOnSale(product_id=self.product_ids["KB-101"], sale_price_cents=6900)
        self.act(self.products, command)
        self.correlations["the keyboard sale"] = command.metadata.correlation_id

        with self.reading(self.products):
            card = self.products.repository_for(ShopWindow).get(self.product_ids["KB-101"])
            deal = self.products.repository_for(Deal).get(self.product_ids["KB-101"])
            chain = self.products.event_store.read_correlated(command.metadata.correlation_id)
        with self.reading(self.sales):
            price = self.sales.repository_for(PriceList).get(self.product_ids["KB-101"])
        self.console.print(
            f"   {tag('Products')} shop window: {card.name} {euros(card.price_cents)} "
            f"(was {euros(card.was_cents)}) {escape(f'[{card.badge}]')}; deals board: {deal.headline}"
        )
        self.console.print(f"   {tag('Sales')} price list: KB-101 {euros(price.unit_price_cents)}")
        by_type = {m["metadata"]["type"]: m["metadata"] for m in chain}
        domain_event = by_type.get("Products.ProductPutOnSale.v1", {})
        integration_event = by_type.get("Products.ProductUpdatedIntegrationEvent.v1", {})
        self.expect(card.badge == "sale" and deal.discount_percent == 22, "both read models reacted")
        self.expect(
            integration_event.get("causation_id") == domain_event.get("id")
            and domain_event.get("causation_id") == command.metadata.id,
            "the integration event was caused by the domain event, not by the use case",
        )
        self.expect(price.unit_price_cents == 6900, "Sales re-priced the keyboard from the contract")
        self.expect(
            not self.sales.router.routes_for("products::product", "Products.ProductPutOnSale.v1")
            and not self.warehouse.router.routes_for("products::product", "Products.ProductPutOnSale.v1"),
            "no other context subscribes to the domain event",
        )

        self.orders["C"] = self.act(
            self.sales,
            PlaceOrder(customer_id=self.customer_id,
                       lines=[{"product_id": self.product_ids["KB-101"], "quantity": 1}]),
        )
        view = self.order_view("C")
        self.console.print(f"   {tag('Sales')} PlaceOrder C: 1 × KB-101 → {view['sales']}, {euros(view['total'])}")
        self.expect(view["total"] == 6900 and view["sales"] == "confirmed",
                    "the next order is priced at the sale price, from Sales' own price list")

    def compensation(self) -> None:
        import time

        from examples.multi_domain.payments.commands import DeclinePayment
        from examples.multi_domain.sales.commands import PlaceOrder
        from examples.multi_domain.warehouse.holds import PAYMENT_TIMEOUT, ReservationHoldPM

        self.chapter(
            8,
            "Compensation: a declined payment, and one that never came",
            """
Warehouse's ReservationHoldPM keeps an order's stock reserved only until the
payment is settled. For every StockReserved it records the command that undoes
it (add_compensation(ReleaseStock(...))) and, when the order is placed, it
schedules its own deadline, PaymentOverdue, 30 minutes later. A captured
payment withdraws the deadline. A declined payment, or the deadline, runs
compensate(): the recorded ReleaseStock commands, latest first, each once.
Sales cancels an order whose stock was released; Payments voids its pending
payment; Delivery's process manager closes.""",
        )
        command = PlaceOrder(
            customer_id=self.customer_id,
            lines=[{"product_id": self.product_ids[sku], "quantity": n} for sku, n in [("KB-101", 1), ("MS-202", 1)]],
        )
        self.orders["D"] = self.act(self.sales, command)
        self.console.print(f"   {tag('Sales')} PlaceOrder D: 1 × KB-101, 1 × MS-202 → {self.order_view('D')['sales']}")
        held = self.order_view("D")["warehouse"]
        decline = DeclinePayment(order_id=self.orders["D"], reason="card refused by the bank")
        self.act(self.payments, decline)
        self.correlations["payment of order D declined"] = decline.metadata.correlation_id
        self.console.print(f"   {tag('Payments')} DeclinePayment D: card refused by the bank")
        d = self.order_view("D")
        with self.reading(self.warehouse):
            released = [m["data"]["sku"] for m in self.warehouse.event_store.read_correlated(decline.metadata.id)
                        if m["metadata"]["type"] == "Warehouse.StockReleased.v1"]
        self.expect(
            held == {"KB-101": 3, "MS-202": 3, "LP-303": 0} and d["warehouse"] == {"KB-101": 2, "MS-202": 2, "LP-303": 0}
            and released == ["MS-202", "KB-101"],
            "order D's two reservations were released, the latest first (the compensation)",
        )
        self.expect(
            d["sales"] == "cancelled" and d["payments"] == "declined" and (d["delivery"] or "").startswith("cancelled"),
            "Sales cancelled order D, its payment stays declined, Delivery closed it",
        )

        self.console.print(
            f"   ... {int(PAYMENT_TIMEOUT.total_seconds() // 60)} minutes pass; "
            f"order C was never paid ({tag('Warehouse')} fires its due deadlines)"
        )
        with self.reading(self.warehouse):
            fired = self.warehouse.fire_due_deadlines(now=time.time() + PAYMENT_TIMEOUT.total_seconds() + 1)
        self.console.print(self.order_table())
        c = self.order_view("C")
        with self.reading(self.warehouse):
            holds = {label: self.warehouse.repository_for(ReservationHoldPM).get(self.orders[label]).status
                     for label in ("A", "B", "C", "D")}
        for label, status in holds.items():
            self.console.print(f"   {tag('Warehouse')} hold of {label}: {status}")
        self.expect(
            fired == 1 and c["sales"] == "cancelled" and c["payments"] == "voided"
            and c["warehouse"] == {"KB-101": 1, "MS-202": 2, "LP-303": 0},
            "only C's deadline fired (A's payment and B's rejection withdrew theirs): "
            "its stock is back, the order cancelled, the payment voided",
        )
        self.expect(
            self.order_view("A")["sales"] == "delivered" and holds["A"] == "paid: stock kept",
            "the paid order A kept its stock",
        )

    def correlation_chains(self) -> None:
        self.chapter(
            9,
            "Following a request across contexts",
            """
Every message carries correlation_id (the request that started it all) and
causation_id (the message whose handling produced it). Each tree below is
rebuilt by asking every context's own event store for one correlation id.
(Read models and process-manager state are not messages: the price list Sales
updated from the keyboard sale, or the process manager itself, leave no entry.)""",
        )
        for title, correlation_id in self.correlations.items():
            messages = []
            for index, domain in enumerate(self.domains.values()):
                with self.reading(domain):
                    for stored in domain.event_store.read_correlated(correlation_id):
                        messages.append((domain.name, index, stored))
            self.console.print(self.causation_tree(title, messages))
            contexts = sorted({name for name, _, _ in messages})
            if title == "order B":
                self.expect(
                    contexts == ["Payments", "Sales", "Warehouse"],
                    "order B's chain spans Sales, Warehouse and Payments",
                )
            if title == "payment of order A":
                self.expect(
                    contexts == ["Delivery", "Payments"]
                    and any(s["metadata"]["type"] == "Delivery.ScheduleShipment.v1" for _, _, s in messages),
                    "the process manager's ScheduleShipment carries the payment's correlation id",
                )

    def causation_tree(self, title: str, messages: list[tuple[str, int, dict[str, Any]]]) -> Tree:
        """A tree of ``messages`` by causation, siblings in the order they happened."""
        children: dict[str | None, list[tuple[str, int, dict[str, Any]]]] = defaultdict(list)
        ids = {stored["metadata"]["id"] for _, _, stored in messages}
        for item in messages:
            cause = item[2]["metadata"]["causation_id"]
            children[cause if cause in ids else None].append(item)
        for siblings in children.values():
            siblings.sort(key=lambda item: (item[2]["metadata"]["time"], item[1],
                                            item[2]["metadata"]["global_position"]))

        tree = Tree(f"[bold]{title}[/]  ({len(messages)} messages)")

        def grow(branch: Tree, cause: str | None) -> None:
            for context, _, stored in children.get(cause, []):
                meta = stored["metadata"]
                kind = "command " if meta["kind"] == "COMMAND" else ""
                detail = describe(meta["type"], stored["data"])
                node = branch.add(f"{tag(context)} {kind}{meta['type']}" + (f"  [dim]{detail}[/]" if detail else ""))
                grow(node, meta["id"])

        grow(tree, None)
        return tree


def storage(domain: Any) -> str:
    """Where a context keeps its data, safe to print (passwords masked)."""
    settings = domain.config["databases"]["default"]
    if settings["provider"] == "memory":
        return "memory"
    return str(redact({"uri": settings.get("database_uri")})["uri"])


def describe(type_string: str, data: dict[str, Any]) -> str:
    """A few words on a message's content, for the causation trees."""
    name = type_string.split(".")[1]
    if name in ("StockReserved", "StockReleased"):
        return f"{data['quantity']} × {data['sku']}"
    if name in ("OrderRejected", "OrderFailed", "PaymentVoided", "OrderCancelled", "PaymentDeclined"):
        return escape(str(data.get("reason")))
    if name in ("PaymentRequested", "PaymentCaptured", "CapturePayment"):
        return euros(data.get("amount_cents"))
    if name in ("ProductPutOnSale",):
        return euros(data.get("sale_price_cents"))
    if name == "ProductUpdatedIntegrationEvent":
        return f"{data['sku']} now {euros(data['current_price_cents'])}"
    if name == "ShipmentScheduled":
        return escape(str(data.get("address")))
    return ""


def main() -> int:
    """Run the story; 0 when every check held."""
    console = Console(width=110, highlight=False)
    console.print(
        Panel(
            "[bold]archipel — a shop as six bounded contexts[/]\n"
            "accounts · products · sales · warehouse · payments · delivery",
            expand=False,
        )
    )
    return 0 if Story(console).run() else 1
