"""Aggregates: identity, version, and the metadata of the events they raise."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from archipel import BaseAggregate, BaseEvent, current_domain
from archipel.errors import IncorrectUsageError
from archipel.fields import Identifier, Integer, String
from tests.unit._support import start


def build_shop(make_domain, name="OnlineShop"):
    shop = make_domain(name)

    @shop.aggregate
    class ShoppingCart(BaseAggregate):
        owner = String(required=True)
        items = Integer(default=0)

        def add_item(self):
            self.items += 1
            self.raise_(ItemAdded(cart_id=self.id, items=self.items))

    @shop.event(part_of=ShoppingCart)
    class ItemAdded(BaseEvent):
        cart_id = Identifier(required=True)
        items = Integer()

    start(shop)
    return shop, ShoppingCart, ItemAdded


def test_aggregate_gets_a_uuid_id_when_none_is_declared(make_domain):
    _, cart_cls, _ = build_shop(make_domain)
    cart = cart_cls(owner="ann")
    assert cart_cls._id_field == "id"
    assert uuid.UUID(cart.id).version == 4  # random: an identity tells nothing of its time
    assert cart_cls(owner="bob").id != cart.id


def test_aggregate_with_a_declared_identifier_uses_it(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Book(BaseAggregate):
        isbn = Identifier(identifier=True)
        title = String()

    start(domain)
    book = Book(isbn="978-0", title="Dune")
    assert book._identity() == "978-0"
    assert "id" not in Book._fields
    with domain.domain_context():
        domain.repository_for(Book).add(book)
        assert domain.repository_for(Book).get("978-0").title == "Dune"


def test_version_is_minus_one_until_stored_then_counts_saves(make_domain):
    shop, cart_cls, _ = build_shop(make_domain)
    with shop.domain_context():
        repo = current_domain.repository_for(cart_cls)
        cart = cart_cls(owner="ann")
        assert cart._version == -1
        repo.add(cart)
        assert cart._version == 0
        loaded = repo.get(cart.id)
        assert loaded._version == 0
        loaded.items = 5
        repo.add(loaded)
        assert repo.get(cart.id)._version == 1


def test_raise_sets_id_type_stream_time_and_position(make_domain):
    _, cart_cls, _ = build_shop(make_domain)
    cart = cart_cls(id="c-42", owner="ann")
    before = dt.datetime.now(dt.UTC)
    cart.add_item()
    cart.add_item()
    first, second = cart._pending_events()
    meta = first._metadata
    assert uuid.UUID(meta.id).version == 7  # time-ordered: the event store's indexes append
    assert meta.id != second._metadata.id
    assert meta.type == "OnlineShop.ItemAdded.v1"
    assert meta.stream == "online_shop::shopping_cart-c-42"
    assert meta.kind == "EVENT"
    assert before <= meta.time <= dt.datetime.now(dt.UTC)
    assert meta.time.tzinfo is not None
    assert (meta.position, second._metadata.position) == (0, 1)


def test_event_positions_continue_after_reload(make_domain):
    shop, cart_cls, _ = build_shop(make_domain)
    with shop.domain_context():
        repo = shop.repository_for(cart_cls)
        cart = cart_cls(owner="ann")
        cart.add_item()
        repo.add(cart)
        again = repo.get(cart.id)
        again.add_item()
        assert again._pending_events()[0]._metadata.position == 1
        repo.add(again)
        stored = shop.event_store.read_stream(f"online_shop::shopping_cart-{cart.id}")
        assert [m["metadata"]["position"] for m in stored] == [0, 1]


def test_event_version_option_is_part_of_the_type(make_domain):
    domain = make_domain("Billing")

    @domain.aggregate
    class Invoice(BaseAggregate):
        number = String()

    @domain.event(part_of=Invoice, version=3)
    class InvoiceSent(BaseEvent):
        number = String()

    start(domain)
    invoice = Invoice(number="1")
    invoice.raise_(InvoiceSent(number="1"))
    meta = invoice._pending_events()[0]._metadata
    assert meta.type == "Billing.InvoiceSent.v3"
    assert meta.version == 3


def test_raising_another_aggregates_event_is_refused(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Left(BaseAggregate):
        name = String()

    @domain.aggregate
    class Right(BaseAggregate):
        name = String()

    @domain.event(part_of=Right)
    class RightHappened(BaseEvent):
        name = String()

    start(domain)
    with pytest.raises(IncorrectUsageError, match="part of Right"):
        Left().raise_(RightHappened(name="x"))


def test_explicit_stream_category_names_the_stream(make_domain):
    domain = make_domain()

    @domain.aggregate(stream_category="legacy_orders")
    class Order(BaseAggregate):
        name = String()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        name = String()

    start(domain)
    order = Order(id="o1")
    order.raise_(Placed(name="x"))
    # within the domain, as Protean names it (``<domain>::legacy_orders``)
    assert order._pending_events()[0]._metadata.stream == f"{domain.snake_name}::legacy_orders-o1"
    assert Order.meta_.stream_category == f"{domain.snake_name}::legacy_orders"


def test_aggregates_are_equal_by_identity_not_by_state(make_domain):
    _, cart_cls, _ = build_shop(make_domain)
    assert cart_cls(id="1", owner="a") == cart_cls(id="1", owner="b")
    assert cart_cls(id="1", owner="a") != cart_cls(id="2", owner="a")
    assert len({cart_cls(id="1", owner="a"), cart_cls(id="1", owner="b")}) == 1
