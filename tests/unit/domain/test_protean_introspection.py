"""Protean's introspection API: ``handlers_for``, ``projectors_for``,
``domain.registry.<kinds>``, ``domain.providers[name]``, ``Cls.meta_`` and a field's
``field_name``/``attribute_name``."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseEvent,
    BaseEventHandler,
    BaseProjection,
    BaseProjector,
    handle,
)
from archipel.fields import Identifier, String
from archipel.utils.reflection import id_field
from tests.unit._support import start


@pytest.fixture
def shop(make_domain):
    domain = make_domain("Shop")

    @domain.aggregate(limit=20)
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)
        note = String(referenced_as="remark")

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()

    @domain.event(part_of=Order)
    class Cancelled(BaseEvent):
        order_id = Identifier()

    @domain.event_handler(part_of=Order)
    class Mailer(BaseEventHandler):
        @handle(Placed)
        def placed(self, event):
            pass

    @domain.event_handler(stream_category="$all")
    class Audit(BaseEventHandler):
        @handle("$any")
        def every(self, event):
            pass

    @domain.projection
    class Board(BaseProjection):
        order_id = Identifier(identifier=True)

    @domain.projector(projector_for=Board, aggregates=[Order])
    class BoardProjector(BaseProjector):
        @handle(Placed)
        def placed(self, event):
            pass

    start(domain)
    return domain, Order, Placed, Cancelled, Mailer, Audit, Board, BoardProjector


def test_handlers_for_names_the_event_handlers_of_an_event(shop):
    domain, _, Placed, Cancelled, Mailer, Audit, _, _ = shop
    assert domain.handlers_for(Placed(order_id="1")) == {Mailer, Audit}
    assert domain.handlers_for(Cancelled(order_id="1")) == {Audit}


def test_projectors_for_names_the_projectors_of_a_projection(shop):
    domain, *_, Board, BoardProjector = shop
    assert domain.projectors_for(Board) == {BoardProjector}


def test_the_registry_lists_each_kind_as_protean_does(shop):
    domain, Order, Placed, *_ = shop
    (record,) = domain.registry.aggregates.values()
    assert (record.name, record.cls, record.class_type) == ("Order", Order, "AGGREGATE")
    assert record.qualname == f"{Order.__module__}.{Order.__qualname__}"
    assert {r.cls for r in domain.registry.events.values()} == {Placed, shop[3]}
    assert len(domain.registry.event_handlers) == 2
    with pytest.raises(AttributeError, match="kinds"):
        _ = domain.registry.widgets


def test_meta_fields_and_providers_read_with_protean_names(shop):
    domain, Order, Placed, *_ = shop
    assert Order.meta_ is Order._meta
    assert Order.meta_.stream_category == Order._meta.stream_category
    assert Order.meta_.limit == 20
    assert Order.meta_.is_event_sourced is False  # not given: the default
    assert Placed.meta_.part_of is Order
    with pytest.raises(AttributeError, match="colour"):
        _ = Order.meta_.colour
    assert id_field(Order).field_name == "order_id"
    note = Order._fields["note"]
    assert (note.field_name, note.attribute_name) == ("note", "remark")
    assert domain.providers["default"] is domain.providers.database("default")


def test_meta_reads_the_options_given_else_their_defaults(shop):
    domain, Order, Placed, _, Mailer, Audit, Board, BoardProjector = shop
    assert BoardProjector.meta_.projector_for is Board
    assert BoardProjector.meta_.aggregates == [Order]
    assert BoardProjector.meta_.inline is False  # not given: the default
    assert Audit.meta_.get("stream_category") == "$all"
    assert Order.meta_.get("limit") == 20 and Order.meta_.get("cache") is None
    # an option recorded after registration (in place, as the wiring does) reads the same
    Order.meta_.extra["cache"] = "orders"
    assert Order.meta_.cache == "orders"
    del Order.meta_.extra["cache"]
    assert Order.meta_.cache is None
    # the options are per class: another class still reads the default
    assert Mailer.meta_.inline is False and Board.meta_.cache is None
    with pytest.raises(AttributeError, match="_private"):
        _ = Order.meta_._private


def test_registering_again_replaces_the_options(make_domain):
    domain = make_domain("Again")

    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)

    domain.register(Order, limit=5, schema_name="orders")
    domain.register(Order, limit=7)
    assert Order.meta_.limit == 7
    assert Order.meta_.schema_name is None  # not given this time: the default


def test_reflection_attributes_are_keyed_by_the_stored_name(shop):
    from archipel.utils.reflection import attributes, declared_fields

    Order = shop[1]
    assert sorted(attributes(Order)) == ["order_id", "remark"]  # Protean's: referenced_as
    assert attributes(Order)["remark"] is declared_fields(Order)["note"]


def test_handlers_meta_stream_category_is_protean_s(make_domain):
    from archipel import BaseCommand, BaseCommandHandler

    domain = make_domain("Till")

    @domain.aggregate(stream_category="sales")
    class Sale(BaseAggregate):
        note = String()

    @domain.command(part_of=Sale)
    class Ring(BaseCommand):
        note = String()

    @domain.command_handler(part_of=Sale)
    class Registers(BaseCommandHandler):
        @handle(Ring)
        def ring(self, command):
            pass

    @domain.event_handler(part_of=Sale)
    class Mirror(BaseEventHandler):
        pass

    @domain.event_handler(part_of=Sale, stream_category="till::elsewhere")
    class Elsewhere(BaseEventHandler):
        pass

    start(domain)
    assert Sale.meta_.stream_category == "till::sales"  # a given category is within the domain
    assert Registers.meta_.stream_category == "till::sales:command"
    assert Mirror.meta_.stream_category == "till::sales"
    assert Elsewhere.meta_.stream_category == "till::elsewhere"  # a handler's is taken as given
