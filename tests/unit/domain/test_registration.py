"""Registering elements: decorators on base-class subclasses and on plain classes,
``domain.register(cls, **opts)``, and options that are refused."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEntity,
    BaseEvent,
    BaseValueObject,
    handle,
    invariant,
)
from archipel.errors import ConfigurationError, IncorrectUsageError, ValidationError
from archipel.fields import HasMany, Identifier, Integer, String
from tests.unit._support import start


def test_plain_class_decorated_as_aggregate_gets_the_base_class(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order:
        """An order."""

        customer = String(required=True)

        def describe(self):
            return f"order for {self.customer}"

    assert issubclass(Order, BaseAggregate)
    assert Order.__name__ == "Order"
    assert Order.__doc__ == "An order."
    assert Order.__module__ == __name__
    order = Order(customer="ann")
    assert order.describe() == "order for ann"
    assert order.id
    with pytest.raises(ValidationError):
        Order()


def test_plain_classes_of_every_data_kind_work_end_to_end(make_domain):
    domain = make_domain("Plain")

    @domain.aggregate
    class Cart:
        lines = HasMany("CartLine")
        total = Integer(default=0)

        @invariant.post
        def total_not_negative(self):
            if self.total < 0:
                raise ValidationError({"total": ["negative"]})

    @domain.entity(part_of=Cart)
    class CartLine:
        sku = String()

    @domain.value_object
    class Colour:
        name = String()

    @domain.command(part_of=Cart)
    class Checkout:
        cart_id = Identifier()

    @domain.event(part_of=Cart)
    class CheckedOut:
        cart_id = Identifier()

    @domain.command_handler(part_of=Cart)
    class CartHandler:
        @handle(Checkout)
        def checkout(self, command):
            cart = Cart(id=command.cart_id)
            cart.raise_(CheckedOut(cart_id=cart.id))
            domain.repository_for(Cart).add(cart)
            return cart.id

    start(domain)
    assert issubclass(CartLine, BaseEntity)
    assert issubclass(Colour, BaseValueObject)
    assert issubclass(Checkout, BaseCommand) and issubclass(CheckedOut, BaseEvent)
    cart = Cart(lines=[{"sku": "a"}])
    assert isinstance(cart.lines[0], CartLine)
    with pytest.raises(ValidationError):
        cart.total = -1
    with domain.domain_context():
        assert domain.process(Checkout(cart_id="c1")) == "c1"
        stored = domain.event_store.read_stream("plain::cart-c1")
    assert [m["metadata"]["type"] for m in stored] == ["Plain.CheckedOut.v1"]


def test_register_infers_the_kind_from_the_base_class(make_domain):
    domain = make_domain()

    class Ledger(BaseAggregate):
        name = String()

    class LedgerOpened(BaseEvent):
        name = String()

    assert domain.register(Ledger) is Ledger
    domain.register(LedgerOpened, part_of=Ledger, version=2)
    assert Ledger._meta.kind == "aggregate"
    assert LedgerOpened._meta.part_of is Ledger
    assert LedgerOpened._meta.type_string == f"{domain.type_prefix}.LedgerOpened.v2"
    assert domain.registry.of_kind("event")["LedgerOpened"] is LedgerOpened


def test_register_takes_the_kind_for_plain_classes(make_domain):
    domain = make_domain()

    class Ledger:
        name = String()

    registered = domain.register(Ledger, "aggregate", stream_category="books")
    assert issubclass(registered, BaseAggregate)
    assert registered._meta.get("stream_category") == "books"


def test_register_of_a_plain_class_without_kind_is_refused(make_domain):
    domain = make_domain()

    class Unknown:
        pass

    with pytest.raises(IncorrectUsageError, match="cannot tell what kind"):
        domain.register(Unknown)


def test_unknown_decorator_option_names_the_element_and_the_allowed_options(make_domain):
    domain = make_domain()
    with pytest.raises(ConfigurationError) as info:

        @domain.aggregate(fact_event=True)
        class Order(BaseAggregate):
            name = String()

    message = str(info.value)
    assert "Order" in message and "fact_event" in message and "fact_events" in message


def test_a_class_belongs_to_one_domain(make_domain):
    first, second = make_domain(), make_domain()

    @first.aggregate
    class Order(BaseAggregate):
        name = String()

    with pytest.raises(ConfigurationError, match="already registered"):
        second.register(Order)


def test_decorators_work_with_and_without_options(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Bare(BaseAggregate):
        name = String()

    @domain.aggregate(fact_events=True)
    class WithOptions(BaseAggregate):
        name = String()

    assert Bare._meta.fact_events is False
    assert WithOptions._meta.fact_events is True
