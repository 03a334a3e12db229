"""``examples/multi_domain``: six bounded contexts that talk only through events.

Three layers of evidence:

* the narrated story (``python -m examples.multi_domain``) runs in a
  subprocess, checks its own claims and exits 0, and prints the same thing
  on every run;
* the cross-context flows, asserted directly with one ``DomainFixture`` per
  context, written the way seed 000 writes them;
* the FastAPI app: URL prefixes activate their context, ``/health`` runs
  without one, errors become 400/404/422 bodies without tracebacks.

Sales and Payments default to SQLite files under ``.archipel/`` of the
working directory; the fixtures point them at a temporary directory and the
story runs with a temporary working directory, so no test writes into the
repository.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from examples.multi_domain import CONTEXTS
from examples.multi_domain.accounts import accounts_domain
from examples.multi_domain.accounts.commands import MoveCustomer, PromoteCustomer, RegisterCustomer
from examples.multi_domain.delivery import delivery_domain
from examples.multi_domain.delivery.carrier import CARRIER_STREAM
from examples.multi_domain.delivery.customer_cards import CustomerCard
from examples.multi_domain.delivery.fulfillment import OrderFulfillmentPM
from examples.multi_domain.delivery.recipients import Recipient
from examples.multi_domain.delivery.shipment import Shipment
from examples.multi_domain.payments import payments_domain
from examples.multi_domain.payments.commands import CapturePayment, DeclinePayment
from examples.multi_domain.payments.payment import Payment
from examples.multi_domain.products import products_domain
from examples.multi_domain.products.commands import ListProduct, PutProductOnSale
from examples.multi_domain.products.integration import ProductUpdatedIntegrationEvent
from examples.multi_domain.products.read_models import Deal, ShopWindow
from examples.multi_domain.sales import sales_domain
from examples.multi_domain.sales.commands import PlaceOrder
from examples.multi_domain.sales.external_events import CatalogueProduct
from examples.multi_domain.sales.order import Order
from examples.multi_domain.sales.price_list import PriceList
from examples.multi_domain.warehouse import warehouse_domain
from examples.multi_domain.warehouse.commands import ReceiveStock, ReleaseStock
from examples.multi_domain.warehouse.external_events import ProductPublished
from examples.multi_domain.warehouse.holds import PAYMENT_TIMEOUT, ReservationHoldPM
from examples.multi_domain.warehouse.stock_item import StockItem
from fastapi.testclient import TestClient

from archipel import Q
from archipel.domain.config import load_config
from archipel.errors import InvalidOperation
from archipel.handling.deadlines import pending_deadlines
from archipel.integrations.pytest import DomainFixture

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "multi_domain"
DOMAINS = [accounts_domain, products_domain, sales_domain, warehouse_domain, payments_domain, delivery_domain]
PLACEHOLDER_PREFIXES = tuple(f"{package.upper()}_" for package in CONTEXTS)


# ---------------------------------------------------------------------------
# the story
# ---------------------------------------------------------------------------


def run_story(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m examples.multi_domain`` in ``cwd``, with only the given overrides."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(PLACEHOLDER_PREFIXES)}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "examples.multi_domain"],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


STORY_CHAPTERS = [
    "0. Six bounded contexts, six configurations",
    "3. A customer registers, moves, and is promoted",
    "4. Orders are placed; the warehouse answers",
    "5. Payment plus stock: the process manager ships",
    "6. The carrier's webhook, through the anti-corruption layer",
    "7. A product goes on sale: domain event inside, integration event outside",
    "8. Compensation: a declined payment, and one that never came",
    "9. Following a request across contexts",
]


def assert_full_story(out: str) -> None:
    """Every chapter told, every check held, both compensation paths taken."""
    assert "✘" not in out
    assert "All 32 checks held" in out
    for chapter in STORY_CHAPTERS:
        assert chapter in out
    # the causation chains were rebuilt from several contexts' event stores
    assert "Warehouse Warehouse.OrderRejected.v1" in out
    assert "Payments Payments.PaymentVoided.v1" in out
    assert "Delivery command Delivery.ScheduleShipment.v1" in out
    # the declined payment's compensation: two releases, then the cancellation
    assert out.count("Warehouse command Warehouse.ReleaseStock.v1") == 2
    assert "Sales Sales.OrderCancelled.v1" in out
    assert "hold of C: payment overdue: 1 item(s) released" in out


def test_the_story_runs_and_every_check_holds(tmp_path: Path) -> None:
    out = succeeded(run_story(tmp_path))
    assert_full_story(out)
    # Sales and Payments wrote their own SQLite files in the working directory
    assert sorted(p.name for p in (tmp_path / ".archipel").iterdir()) == ["payments.db", "sales.db"]


def _each_context(**settings: str) -> dict[str, str]:
    """``<CONTEXT>_<KEY>=value`` for all six contexts (a value may use ``{context}``)."""
    return {
        f"{package.upper()}_{key}": value.format(context=package)
        for package in CONTEXTS
        for key, value in settings.items()
    }


def test_the_full_story_in_memory(tmp_path: Path) -> None:
    out = succeeded(run_story(tmp_path, **_each_context(DB_PROVIDER="memory")))
    assert_full_story(out)
    assert "sqlite" not in out and not (tmp_path / ".archipel").exists()


def test_the_full_story_with_every_context_on_sqlite(tmp_path: Path) -> None:
    out = succeeded(run_story(tmp_path, **_each_context(DB_PROVIDER="sql")))
    assert_full_story(out)
    assert sorted(p.name for p in (tmp_path / ".archipel").iterdir()) == sorted(f"{c}.db" for c in CONTEXTS)


def test_the_full_story_on_postgresql_and_redis(tmp_path: Path, postgres_server: Any, redis_url: str) -> None:
    # one database per context, as six services would have; one shared Redis broker
    names = {package: postgres_server.create_database(prefix=f"story_{package}") for package in CONTEXTS}
    try:
        env = _each_context(DB_PROVIDER="sql", BROKER_PROVIDER="redis")
        env.update({f"{p.upper()}_DATABASE_URL": postgres_server.url(name) for p, name in names.items()})
        out = succeeded(run_story(tmp_path, REDIS_URL=redis_url, **env))
        assert_full_story(out)
        assert out.count("postgresql+psycopg://") >= 6 and "sqlite" not in out
    finally:
        for name in names.values():
            postgres_server.drop_database(name)


def test_the_story_is_the_same_on_every_run(tmp_path: Path) -> None:
    # The second run finds the first one's SQLite data and resets it first.
    first = succeeded(run_story(tmp_path))
    second = succeeded(run_story(tmp_path))
    assert first == second


def test_the_story_follows_the_environment(tmp_path: Path) -> None:
    out = succeeded(
        run_story(
            tmp_path,
            SALES_DB_PROVIDER="memory",
            PAYMENTS_DB_PROVIDER="memory",
            PAYMENTS_CURRENCY="USD",
        )
    )
    assert "currency=USD" in out
    assert "sqlite:///" not in out
    assert not (tmp_path / ".archipel").exists()


# ---------------------------------------------------------------------------
# configuration and boundaries
# ---------------------------------------------------------------------------


def test_each_context_is_a_domain_with_its_own_configuration_file() -> None:
    assert [d.name for d in DOMAINS] == ["Accounts", "Products", "Sales", "Warehouse", "Payments", "Delivery"]
    for package, domain in zip(CONTEXTS, DOMAINS, strict=True):
        assert domain.config.source == EXAMPLE / package / "domain.toml"
        assert domain.config["command_processing"] == "sync"
        assert domain.config["event_processing"] == "sync"


def test_domain_toml_defaults_and_environment_substitution() -> None:
    payments_file = EXAMPLE / "payments" / "__init__.py"
    defaults = load_config(payments_file, environ={})
    assert defaults["databases"]["default"] == {
        "provider": "sql",
        "database_uri": "sqlite:///.archipel/payments.db",
    }
    assert defaults["event_store"]["database_uri"] == "sqlite:///.archipel/payments.db"
    assert defaults["custom"]["currency"] == "EUR"

    overridden = load_config(
        payments_file,
        environ={
            "PAYMENTS_DB_PROVIDER": "sql",
            "PAYMENTS_DATABASE_URL": "postgresql://shop@db/payments",
            "PAYMENTS_CURRENCY": "USD",
        },
    )
    assert overridden["databases"]["default"]["database_uri"] == "postgresql://shop@db/payments"
    assert overridden["event_store"]["database_uri"] == "postgresql://shop@db/payments"
    assert overridden["custom"]["currency"] == "USD"

    # the other contexts default to memory
    assert load_config(EXAMPLE / "accounts" / "__init__.py", environ={})["databases"]["default"][
        "provider"
    ] == "memory"


def test_contexts_never_import_each_other() -> None:
    # Seed 000: "Communicate through events, not imports". Each context may
    # import archipel, the standard library and its own package only.
    for package in CONTEXTS:
        own = f"examples.multi_domain.{package}"
        for module in (EXAMPLE / package).rglob("*.py"):
            tree = ast.parse(module.read_text(), filename=str(module))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                for name in names:
                    if name.startswith("examples."):
                        assert name == own or name.startswith(own + "."), (
                            f"{module.relative_to(ROOT)} imports {name}"
                        )


# ---------------------------------------------------------------------------
# fixtures, as seed 000 writes them (one per context)
# ---------------------------------------------------------------------------


def _sqlite_in(directory: Path, domain: Any) -> None:
    """Point a context stored in SQLite at a file in ``directory`` (before ``setup``)."""
    if domain.config["databases"]["default"]["provider"] == "memory":
        return
    uri = f"sqlite:///{directory / (domain.snake_name + '.db')}"
    domain.config["databases"]["default"]["database_uri"] = uri
    domain.config["event_store"]["database_uri"] = uri


@pytest.fixture(scope="session")
def accounts_fixture() -> Iterator[DomainFixture]:
    accounts_domain.config["command_processing"] = "sync"
    accounts_domain.config["event_processing"] = "sync"
    fixture = DomainFixture(accounts_domain)
    fixture.setup()
    yield fixture
    fixture.teardown()


@pytest.fixture(scope="session")
def products_fixture() -> Iterator[DomainFixture]:
    products_domain.config["command_processing"] = "sync"
    products_domain.config["event_processing"] = "sync"
    fixture = DomainFixture(products_domain)
    fixture.setup()
    yield fixture
    fixture.teardown()


@pytest.fixture(scope="session")
def sales_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DomainFixture]:
    sales_domain.config["command_processing"] = "sync"
    sales_domain.config["event_processing"] = "sync"
    _sqlite_in(tmp_path_factory.mktemp("sales"), sales_domain)
    fixture = DomainFixture(sales_domain)
    fixture.setup()
    yield fixture
    fixture.teardown()


@pytest.fixture(scope="session")
def warehouse_fixture() -> Iterator[DomainFixture]:
    warehouse_domain.config["command_processing"] = "sync"
    warehouse_domain.config["event_processing"] = "sync"
    fixture = DomainFixture(warehouse_domain)
    fixture.setup()
    yield fixture
    fixture.teardown()


@pytest.fixture(scope="session")
def payments_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DomainFixture]:
    payments_domain.config["command_processing"] = "sync"
    payments_domain.config["event_processing"] = "sync"
    _sqlite_in(tmp_path_factory.mktemp("payments"), payments_domain)
    fixture = DomainFixture(payments_domain)
    fixture.setup()
    yield fixture
    fixture.teardown()


@pytest.fixture(scope="session")
def delivery_fixture() -> Iterator[DomainFixture]:
    delivery_domain.config["command_processing"] = "sync"
    delivery_domain.config["event_processing"] = "sync"
    fixture = DomainFixture(delivery_domain)
    fixture.setup()
    yield fixture
    fixture.teardown()


@pytest.fixture
def shop(
    accounts_fixture: DomainFixture,
    products_fixture: DomainFixture,
    sales_fixture: DomainFixture,
    warehouse_fixture: DomainFixture,
    payments_fixture: DomainFixture,
    delivery_fixture: DomainFixture,
) -> Iterator[None]:
    """All six contexts, empty, for one test; their data is deleted afterwards.

    Every context must be initialised for the flows: one that is not does
    not receive the others' events.
    """
    fixtures = [accounts_fixture, products_fixture, sales_fixture,
                warehouse_fixture, payments_fixture, delivery_fixture]
    for fixture in fixtures:
        fixture.reset()  # the API tests share these domains and leave data behind
    with ExitStack() as stack:
        for fixture in fixtures:
            stack.enter_context(fixture.domain_context())
        yield


# -- helpers: each acts in, or reads from, ONE context ------------------------------


def act(domain: Any, command: Any) -> Any:
    with domain.domain_context():
        return domain.process(command)


def get(domain: Any, cls: type, identity: str) -> Any:
    with domain.domain_context():
        return domain.repository_for(cls).get(identity)


def find(domain: Any, cls: type, **criteria: Any) -> list[Any]:
    with domain.domain_context():
        return list(domain.repository_for(cls).find(Q(**criteria)).items)


def stored(domain: Any, correlation_id: str | None) -> list[dict[str, Any]]:
    """The messages of one correlation id in ``domain``'s own event store."""
    with domain.domain_context():
        return list(domain.event_store.read_correlated(correlation_id))


PARIS = {"street": "8 rue de Rivoli", "city": "Paris", "postal_code": "75004", "country": "FR"}
LONDON = {"street": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH", "country": "GB"}


def register(name: str = "Ada Lovelace", address: dict[str, str] = PARIS) -> str:
    email = name.lower().replace(" ", ".") + "@example.org"
    return act(accounts_domain, RegisterCustomer(name=name, email=email, address=address))  # type: ignore[no-any-return]


def catalogue_item(sku: str, price_cents: int, stock: int = 0) -> str:
    product_id = act(products_domain, ListProduct(sku=sku, name=f"Item {sku}", list_price_cents=price_cents))
    if stock:
        act(warehouse_domain, ReceiveStock(sku=sku, quantity=stock))
    return product_id  # type: ignore[no-any-return]


def place(customer_id: str, *lines: tuple[str, int]) -> tuple[str, PlaceOrder]:
    command = PlaceOrder(
        customer_id=customer_id,
        lines=[{"product_id": product_id, "quantity": quantity} for product_id, quantity in lines],
    )
    return act(sales_domain, command), command


def fulfillment(order_id: str) -> Any:
    return get(delivery_domain, OrderFulfillmentPM, order_id)


# ---------------------------------------------------------------------------
# identity -> delivery: event handler on another stream category, fact events
# ---------------------------------------------------------------------------


def test_customer_registration_creates_recipient(
    accounts_fixture: DomainFixture, delivery_fixture: DomainFixture
) -> None:
    # Seed 000's own test, with this example's names.
    # Act in the accounts domain
    with accounts_fixture.domain_context():
        accounts_domain.process(RegisterCustomer(name="Alice", email="alice@example.com"))

    # Verify effect in the delivery domain
    with delivery_fixture.domain_context():
        repo = delivery_domain.repository_for(Recipient)
        recipients = repo.find(Q(name="Alice"))
        assert recipients.total == 1


def test_recipient_follows_the_customer_and_the_card_is_replaced_by_facts(shop: None) -> None:
    customer_id = register(address=LONDON)
    (recipient,) = find(delivery_domain, Recipient, customer_id=customer_id)
    assert recipient.recipient_id != customer_id  # its own identity; customer_id correlates
    assert recipient.delivery_address == "12 St James's Square, SW1Y 4JH London, GB"

    act(accounts_domain, MoveCustomer(customer_id=customer_id, address=PARIS))
    act(accounts_domain, PromoteCustomer(customer_id=customer_id, segment="gold"))

    (recipient,) = find(delivery_domain, Recipient, customer_id=customer_id)
    assert recipient.delivery_address == "8 rue de Rivoli, 75004 Paris, FR"
    card = get(delivery_domain, CustomerCard, customer_id)
    # the last fact (the promotion) carried the whole customer: nothing was lost
    assert (card.name, card.email, card.segment, card.address) == (
        "Ada Lovelace",
        "ada.lovelace@example.org",
        "gold",
        "8 rue de Rivoli, 75004 Paris, FR",
    )
    with accounts_domain.domain_context():
        facts = [
            m for m in accounts_domain.event_store.read_all()
            if m["metadata"]["type"] == "Accounts.CustomerFactEvent.v1"
        ]
    assert len(facts) == 3  # one per change: registered, moved, promoted


# ---------------------------------------------------------------------------
# seed 003: domain event inside, integration event outside
# ---------------------------------------------------------------------------


def test_listing_a_product_reaches_sales_and_warehouse_through_the_contract(shop: None) -> None:
    product_id = catalogue_item("KB-101", 8900)
    assert get(sales_domain, PriceList, product_id).unit_price_cents == 8900
    (item,) = find(warehouse_domain, StockItem, product_id=product_id)
    assert (item.sku, item.on_hand) == ("KB-101", 0)

    # each consumer reads the contract through a class of its own
    (sales_route,) = sales_domain.router.routes_for(
        "products::product", "Products.ProductUpdatedIntegrationEvent.v1"
    )
    (warehouse_route,) = warehouse_domain.router.routes_for(
        "products::product", "Products.ProductUpdatedIntegrationEvent.v1"
    )
    assert sales_route.target_cls is CatalogueProduct
    assert warehouse_route.target_cls is ProductPublished


def test_putting_a_product_on_sale_has_three_reactions_and_one_contract(shop: None) -> None:
    product_id = catalogue_item("KB-101", 8900, stock=3)
    command = PutProductOnSale(product_id=product_id, sale_price_cents=6900)
    act(products_domain, command)

    # inside Products: the shop window and the deals board reacted
    card = get(products_domain, ShopWindow, product_id)
    assert (card.price_cents, card.was_cents, card.badge) == (6900, 8900, "sale")
    assert get(products_domain, Deal, product_id).discount_percent == 22

    # the use case raised only the domain event; the integration event was
    # published by a handler of that domain event, in the same business transaction
    chain = {m["metadata"]["type"]: m["metadata"] for m in stored(products_domain, command.metadata.id)}
    assert set(chain) == {
        "Products.PutProductOnSale.v1",
        "Products.ProductPutOnSale.v1",
        "Products.ProductUpdatedIntegrationEvent.v1",
    }
    domain_event = chain["Products.ProductPutOnSale.v1"]
    integration_event = chain["Products.ProductUpdatedIntegrationEvent.v1"]
    assert domain_event["causation_id"] == command.metadata.id
    assert integration_event["causation_id"] == domain_event["id"]
    assert ProductUpdatedIntegrationEvent._meta.published

    # outside: only the contract crossed the boundary
    for other in (sales_domain, warehouse_domain, accounts_domain, payments_domain, delivery_domain):
        assert not other.router.routes_for("products::product", "Products.ProductPutOnSale.v1")
    assert get(sales_domain, PriceList, product_id).unit_price_cents == 6900

    # and Sales prices the next order from its own, updated price list
    order_id, _ = place(register(), (product_id, 2))
    assert get(sales_domain, Order, order_id).total_cents == 13800


def test_a_sale_beyond_the_configured_discount_is_refused(shop: None) -> None:
    product_id = catalogue_item("KB-101", 8900)
    with pytest.raises(InvalidOperation, match="50% off"):
        act(products_domain, PutProductOnSale(product_id=product_id, sale_price_cents=1000))
    assert get(sales_domain, PriceList, product_id).unit_price_cents == 8900


# ---------------------------------------------------------------------------
# seed 001: status across contexts through events
# ---------------------------------------------------------------------------


def test_an_order_with_stock_is_confirmed_by_the_warehouse_answer(shop: None) -> None:
    keyboard = catalogue_item("KB-101", 8900, stock=5)
    mouse = catalogue_item("MS-202", 2900, stock=4)
    order_id, command = place(register(), (keyboard, 1), (mouse, 2))

    order = get(sales_domain, Order, order_id)
    assert (order.status, order.total_cents) == ("confirmed", 14700)
    assert {i.sku: i.reserved for i in find(warehouse_domain, StockItem)} == {"KB-101": 1, "MS-202": 2}

    # Sales confirmed the order *because of* the warehouse's event: the
    # confirmation's cause is a StockReserved stored in the warehouse's store.
    warehouse_ids = {
        m["metadata"]["id"]: m["metadata"]["type"] for m in stored(warehouse_domain, command.metadata.id)
    }
    (confirmed,) = [
        m["metadata"] for m in stored(sales_domain, command.metadata.id)
        if m["metadata"]["type"] == "Sales.OrderConfirmed.v1"
    ]
    assert warehouse_ids[confirmed["causation_id"]] == "Warehouse.StockReserved.v1"
    (payment,) = find(payments_domain, Payment, order_id=order_id)
    assert (payment.status, payment.amount_due_cents) == ("pending", 14700)


def test_an_order_without_enough_stock_fails_and_nothing_is_reserved(shop: None) -> None:
    keyboard = catalogue_item("KB-101", 8900, stock=5)
    lamp = catalogue_item("LP-303", 4500, stock=1)
    order_id, command = place(register(), (keyboard, 1), (lamp, 2))

    order = get(sales_domain, Order, order_id)
    assert order.status == "failed"
    assert order.failure_reason == "LP-303: 2 wanted, 1 available"
    assert {i.sku: i.reserved for i in find(warehouse_domain, StockItem)} == {"KB-101": 0, "LP-303": 0}
    (payment,) = find(payments_domain, Payment, order_id=order_id)
    assert payment.status == "voided"
    process = fulfillment(order_id)
    assert process.status == "cancelled" and process.is_complete

    # the whole chain, from three contexts' own event stores
    types = {
        domain.name: sorted(m["metadata"]["type"] for m in stored(domain, command.metadata.id))
        for domain in DOMAINS
    }
    assert types == {
        "Accounts": [],
        "Products": [],
        "Sales": ["Sales.OrderFailed.v1", "Sales.OrderPlaced.v1", "Sales.PlaceOrder.v1"],
        "Warehouse": ["Warehouse.OrderRejected.v1"],
        "Payments": ["Payments.PaymentRequested.v1", "Payments.PaymentVoided.v1"],
        "Delivery": [],
    }


def test_repeated_lines_of_one_product_are_reserved_together(shop: None) -> None:
    mouse = catalogue_item("MS-202", 2900, stock=3)
    order_id, _ = place(register(), (mouse, 2), (mouse, 2))  # 4 wanted in all
    assert get(sales_domain, Order, order_id).status == "failed"
    assert find(warehouse_domain, StockItem)[0].reserved == 0


# ---------------------------------------------------------------------------
# the process manager across sales, payments and warehouse
# ---------------------------------------------------------------------------


def test_the_process_manager_ships_once_paid_and_reserved(shop: None) -> None:
    customer_id = register(address=PARIS)
    keyboard = catalogue_item("KB-101", 8900, stock=5)
    order_id, _ = place(customer_id, (keyboard, 1))

    process = fulfillment(order_id)
    assert (process.status, process.awaiting_products, process.paid) == ("awaiting payment", [], False)
    assert not process.is_complete
    assert find(delivery_domain, Shipment, order_id=order_id) == []

    with pytest.raises(InvalidOperation, match="owes 8900 cents"):
        act(payments_domain, CapturePayment(order_id=order_id, amount_cents=100))
    assert not fulfillment(order_id).paid

    act(payments_domain, CapturePayment(order_id=order_id, amount_cents=8900))
    process = fulfillment(order_id)
    assert process.status == "shipment scheduled" and process.is_complete
    (shipment,) = find(delivery_domain, Shipment, order_id=order_id)
    assert shipment.shipment_id == process.shipment_id
    # the address comes from Delivery's own Recipient
    assert (shipment.status, shipment.address) == ("scheduled", "8 rue de Rivoli, 75004 Paris, FR")


def held(order_id: str) -> dict[str, int]:
    """What ``order_id`` holds on each shelf (Warehouse's own data)."""
    return {i.sku: int(i.holds.get(order_id, 0)) for i in find(warehouse_domain, StockItem)}


def test_a_declined_payment_releases_the_reserved_stock_and_cancels_the_order(shop: None) -> None:
    keyboard = catalogue_item("KB-101", 8900, stock=5)
    mouse = catalogue_item("MS-202", 2900, stock=4)
    order_id, _ = place(register(), (keyboard, 1), (mouse, 2))
    assert held(order_id) == {"KB-101": 1, "MS-202": 2}
    assert get(warehouse_domain, ReservationHoldPM, order_id).status == "holding stock until paid"

    decline = DeclinePayment(order_id=order_id, reason="card refused")
    act(payments_domain, decline)

    # the compensation: every reservation undone, the latest first, each once
    assert held(order_id) == {"KB-101": 0, "MS-202": 0}
    assert {i.sku: i.reserved for i in find(warehouse_domain, StockItem)} == {"KB-101": 0, "MS-202": 0}
    released = [m["data"]["sku"] for m in stored(warehouse_domain, decline.metadata.id)
                if m["metadata"]["type"] == "Warehouse.StockReleased.v1"]
    assert released == ["MS-202", "KB-101"]
    hold = get(warehouse_domain, ReservationHoldPM, order_id)
    assert hold.is_complete and hold.status == "payment declined: 2 item(s) released"
    # ... and what the other contexts made of it, through events
    order = get(sales_domain, Order, order_id)
    assert (order.status, order.failure_reason) == ("cancelled", "unpaid: the warehouse released its stock")
    (payment,) = find(payments_domain, Payment, order_id=order_id)
    assert payment.status == "declined"
    assert fulfillment(order_id).status.startswith("cancelled") and fulfillment(order_id).is_complete
    with warehouse_domain.domain_context():
        assert pending_deadlines(warehouse_domain, ReservationHoldPM) == []  # the decline withdrew it

    # a repeated compensation changes nothing: releasing what the order no longer holds
    act(warehouse_domain, ReleaseStock(stock_item_id=find(warehouse_domain, StockItem, sku="KB-101")[0].stock_item_id,
                                       order_id=order_id))
    assert {i.sku: i.reserved for i in find(warehouse_domain, StockItem)} == {"KB-101": 0, "MS-202": 0}


def test_an_unpaid_order_is_compensated_when_its_payment_deadline_passes(shop: None) -> None:
    customer_id = register()
    keyboard = catalogue_item("KB-101", 8900, stock=5)
    unpaid, _ = place(customer_id, (keyboard, 2))
    paid, _ = place(customer_id, (keyboard, 1))
    act(payments_domain, CapturePayment(order_id=paid, amount_cents=8900))
    with warehouse_domain.domain_context():
        waiting = {d["correlation"] for d in pending_deadlines(warehouse_domain, ReservationHoldPM)}
        assert unpaid in waiting and paid not in waiting  # the payment withdrew its deadline
        assert warehouse_domain.fire_due_deadlines() == 0  # not yet due
        later = time.time() + PAYMENT_TIMEOUT.total_seconds() + 1
        assert warehouse_domain.fire_due_deadlines(now=later) == 1
        assert warehouse_domain.fire_due_deadlines(now=later) == 0  # fired once
    assert held(unpaid) == {"KB-101": 0} and held(paid) == {"KB-101": 1}
    assert get(warehouse_domain, ReservationHoldPM, unpaid).status == "payment overdue: 1 item(s) released"
    assert get(sales_domain, Order, unpaid).status == "cancelled"
    assert find(payments_domain, Payment, order_id=unpaid)[0].status == "voided"
    assert fulfillment(unpaid).status.startswith("cancelled")
    assert fulfillment(paid).status == "shipment scheduled"
    assert get(warehouse_domain, ReservationHoldPM, paid).status == "paid: stock kept"
    assert [s.order_id for s in find(delivery_domain, Shipment)] == [paid]


def test_the_process_manager_correlates_by_order_id(shop: None) -> None:
    customer_id = register()
    keyboard = catalogue_item("KB-101", 8900, stock=5)
    first, _ = place(customer_id, (keyboard, 1))
    second, _ = place(customer_id, (keyboard, 2))

    act(payments_domain, CapturePayment(order_id=second, amount_cents=17800))
    assert fulfillment(second).status == "shipment scheduled"
    assert fulfillment(first).status == "awaiting payment"
    assert [s.order_id for s in find(delivery_domain, Shipment)] == [second]


def test_a_shipment_is_held_when_delivery_knows_no_address(shop: None) -> None:
    # An order for a customer Accounts never announced: Delivery has no
    # Recipient, so it holds the parcel rather than asking Accounts.
    keyboard = catalogue_item("KB-101", 8900, stock=1)
    order_id, _ = place("someone-unknown", (keyboard, 1))
    act(payments_domain, CapturePayment(order_id=order_id, amount_cents=8900))
    (shipment,) = find(delivery_domain, Shipment, order_id=order_id)
    assert (shipment.status, shipment.address) == ("on_hold", None)


# ---------------------------------------------------------------------------
# the carrier's webhook: a subscriber as anti-corruption layer
# ---------------------------------------------------------------------------


def test_the_carrier_webhook_is_translated_at_the_boundary(shop: None) -> None:
    keyboard = catalogue_item("KB-101", 8900, stock=1)
    order_id, _ = place(register(), (keyboard, 1))
    act(payments_domain, CapturePayment(order_id=order_id, amount_cents=8900))
    (shipment,) = find(delivery_domain, Shipment, order_id=order_id)

    def webhook(payload: dict[str, Any]) -> None:
        # raw dict, SwiftParcel's own schema, straight onto the broker stream
        with delivery_domain.domain_context():
            delivery_domain.brokers["default"].publish(CARRIER_STREAM, payload)

    parcel = {"tracking_code": "SP-1", "merchant_reference": shipment.shipment_id}
    webhook({"event": "label.printed", "parcel": parcel})  # means nothing here
    webhook({"event": "parcel.collected", "parcel": {"tracking_code": "SP-1"}})  # no reference
    assert get(delivery_domain, Shipment, shipment.shipment_id).status == "scheduled"

    webhook({"event": "parcel.collected", "parcel": parcel})
    assert get(delivery_domain, Shipment, shipment.shipment_id).tracking_code == "SP-1"
    delivered = {"event": "parcel.delivered", "parcel": parcel, "proof_of_delivery": {"signatory": "A. L."}}
    webhook(delivered)
    webhook(delivered)  # at-least-once: the repeat changes nothing

    final = get(delivery_domain, Shipment, shipment.shipment_id)
    assert (final.status, final.signed_by) == ("delivered", "A. L.")
    with delivery_domain.domain_context():
        types = [m["metadata"]["type"] for m in delivery_domain.event_store.read_all()]
    assert types.count("Delivery.ShipmentDelivered.v1") == 1
    # Sales learnt it from Delivery's event
    assert get(sales_domain, Order, order_id).status == "delivered"


# ---------------------------------------------------------------------------
# the HTTP API
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(
    accounts_fixture: DomainFixture,
    products_fixture: DomainFixture,
    sales_fixture: DomainFixture,
    warehouse_fixture: DomainFixture,
    payments_fixture: DomainFixture,
    delivery_fixture: DomainFixture,
) -> Iterator[TestClient]:
    # The fixtures come first so the SQLite files are the temporary ones;
    # entering the client runs the app's lifespan (init + setup_database).
    from examples.multi_domain.api import app

    with TestClient(app) as test_client:
        yield test_client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6].upper()}"


def assert_clean_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    return response.json()  # type: ignore[no-any-return]


def test_health_runs_without_a_context(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["context"] is None
    assert body["contexts"] == {d.name: True for d in DOMAINS}


def test_each_prefix_activates_its_context_end_to_end(client: TestClient) -> None:
    sku = unique("KB")
    customer = client.post(
        "/customers", json={"name": "Grace Hopper", "email": "grace@example.org", "address": PARIS}
    )
    assert (customer.status_code, customer.json()["context"]) == (201, "Accounts")
    customer_id = customer.json()["customer_id"]

    product = client.post("/products", json={"sku": sku, "name": "Keyboard", "list_price_cents": 8900})
    assert (product.status_code, product.json()["context"]) == (201, "Products")
    product_id = product.json()["product_id"]
    assert client.get(f"/products/{product_id}").json()["context"] == "Products"

    stock = client.post(f"/stock/{sku}/receipts", json={"quantity": 2})
    assert (stock.json()["on_hand"], stock.json()["context"]) == (2, "Warehouse")
    assert client.get("/stock").json()["context"] == "Warehouse"

    order = client.post("/orders", json={"customer_id": customer_id,
                                         "lines": [{"product_id": product_id, "quantity": 2}]})
    assert order.status_code == 201
    assert (order.json()["status"], order.json()["context"]) == ("confirmed", "Sales")
    order_id = order.json()["order_id"]

    payment = client.get(f"/payments/{order_id}")
    assert (payment.json()["status"], payment.json()["context"]) == ("pending", "Payments")
    assert client.post("/payments", json={"order_id": order_id, "amount_cents": 17800}).status_code == 201

    process = client.get(f"/delivery/orders/{order_id}").json()
    assert (process["status"], process["complete"], process["context"]) == ("shipment scheduled", True, "Delivery")
    recipient = client.get(f"/delivery/recipients/{customer_id}").json()
    assert recipient["card"]["email"] == "grace@example.org"

    hook = client.post(
        "/delivery/webhooks/swiftparcel",
        json={"event": "parcel.delivered",
              "parcel": {"tracking_code": "SP-9", "merchant_reference": process["shipment"]["shipment_id"]}},
    )
    assert (hook.status_code, hook.json()["context"]) == (202, "Delivery")
    assert client.get(f"/orders/{order_id}").json()["status"] == "delivered"


def test_validation_errors_are_400_and_name_the_field(client: TestClient) -> None:
    body = assert_clean_error(client.post("/customers", json={"name": "No Email"}), 400)
    assert "email" in body["errors"]

    body = assert_clean_error(
        client.post("/customers", json={"name": "Bad", "email": "not-an-address"}), 400
    )
    assert body["errors"] == {"email": ["is not an e-mail address"]}

    sku = unique("X")
    body = assert_clean_error(
        client.post("/products", json={"sku": sku, "name": "Free", "list_price_cents": 0}), 400
    )
    assert "list_price_cents" in body["errors"]
    assert sku not in [p["sku"] for p in client.get("/products").json()["products"]]  # nothing stored

    body = assert_clean_error(
        client.post("/orders", json={"customer_id": "c", "lines": [{"product_id": "nope", "quantity": 1}]}),
        400,
    )
    assert "lines" in body["errors"]


def test_unknown_things_are_404(client: TestClient) -> None:
    for path in ["/orders/nope", "/products/nope", "/customers/nope", "/payments/nope",
                 "/delivery/orders/nope", "/delivery/recipients/nope"]:
        assert_clean_error(client.get(path), 404)
    assert_clean_error(client.post("/stock/NOPE/receipts", json={"quantity": 1}), 404)


def test_refused_operations_are_422(client: TestClient) -> None:
    sku = unique("LP")
    product_id = client.post("/products", json={"sku": sku, "name": "Lamp", "list_price_cents": 4500}).json()[
        "product_id"
    ]
    body = assert_clean_error(client.post(f"/products/{product_id}/sale", json={"sale_price_cents": 100}), 422)
    assert "50% off" in body["message"]
