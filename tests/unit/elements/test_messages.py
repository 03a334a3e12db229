"""Commands and events: immutable data with metadata; dict, message and JSON round trips."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, BaseValueObject, Metadata, handle
from archipel.errors import IncorrectUsageError, ValidationError
from archipel.fields import (
    Boolean,
    Date,
    DateTime,
    Decimal,
    Dict,
    Identifier,
    Integer,
    List,
    String,
    ValueObject,
)
from tests.unit._support import start


class Money(BaseValueObject):
    amount = Decimal(required=True)
    currency = String(required=True)


@pytest.fixture
def shop(make_domain):
    domain = make_domain("Shop")

    @domain.aggregate
    class Order(BaseAggregate):
        customer = String()

    @domain.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        order_id = Identifier(required=True)
        quantity = Integer(min_value=1)

    @domain.event(part_of=Order)
    class OrderPlaced(BaseEvent):
        order_id = Identifier(required=True)
        quantity = Integer()
        total = ValueObject(Money)
        day = Date()
        at = DateTime()
        gift = Boolean(default=False)
        notes = List(content_type=String)
        extra = Dict()

    start(domain)
    return domain, Order, PlaceOrder, OrderPlaced


def sample_event(order_cls, event_cls):
    order = order_cls(id="o-1")
    order.raise_(
        event_cls(
            order_id="o-1",
            quantity=2,
            total=Money(amount="19.90", currency="EUR"),
            day=dt.date(2024, 6, 1),
            at=dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC),
            notes=["fragile"],
            extra={"source": "web"},
        )
    )
    return order._pending_events()[0]


def test_commands_and_events_are_immutable(shop):
    _, _, place_cls, placed_cls = shop
    command = place_cls(order_id="o-1", quantity=1)
    with pytest.raises(IncorrectUsageError, match="immutable"):
        command.quantity = 5
    event = placed_cls(order_id="o-1")
    with pytest.raises(IncorrectUsageError):
        event.order_id = "o-2"
    assert (command.quantity, event.order_id) == (1, "o-1")


def test_messages_are_validated_like_other_elements(shop):
    _, _, place_cls, _ = shop
    with pytest.raises(ValidationError) as info:
        place_cls(quantity=0)
    assert set(info.value.messages) == {"order_id", "quantity"}


def test_messages_get_no_automatic_id_field(shop):
    _, _, place_cls, placed_cls = shop
    assert "id" not in place_cls._fields
    assert "id" not in placed_cls._fields


def test_to_dict_gives_primitive_data(shop):
    _, order_cls, _, placed_cls = shop
    event = sample_event(order_cls, placed_cls)
    assert event.to_dict() == {
        "order_id": "o-1",
        "quantity": 2,
        "total": {"amount": "19.90", "currency": "EUR"},
        "day": "2024-06-01",
        "at": "2024-06-01T12:00:00+00:00",
        "gift": False,
        "notes": ["fragile"],
        "extra": {"source": "web"},
    }


def test_to_message_and_from_message_round_trip(shop):
    _, order_cls, _, placed_cls = shop
    event = sample_event(order_cls, placed_cls)
    message = event.to_message()
    assert set(message) == {"metadata", "data"}
    assert message["metadata"]["type"] == "Shop.OrderPlaced.v1"
    assert message["metadata"]["stream"] == "shop::order-o-1"
    back = placed_cls.from_message(message)
    assert back == event
    assert back.to_dict() == event.to_dict()
    assert back.total == Money(amount=decimal.Decimal("19.90"), currency="EUR")
    assert back.day == dt.date(2024, 6, 1)
    assert back._metadata.id == event._metadata.id
    assert back._metadata.time == event._metadata.time


def test_round_trip_survives_json(shop):
    _, order_cls, _, placed_cls = shop
    event = sample_event(order_cls, placed_cls)
    text = json.dumps(event.to_message())
    back = placed_cls.from_message(json.loads(text))
    assert back.to_message() == event.to_message()
    assert back.at == dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert isinstance(back._metadata, Metadata)


def test_router_finds_the_class_by_type_string(shop):
    domain, order_cls, _, placed_cls = shop
    message = sample_event(order_cls, placed_cls).to_message()
    cls = domain.router.messages[message["metadata"]["type"]]
    assert cls is placed_cls
    assert cls.from_message(message).order_id == "o-1"


def test_from_message_ignores_unknown_data_keys(shop):
    _, _, _, placed_cls = shop
    back = placed_cls.from_message({"metadata": {"id": "m1"}, "data": {"order_id": "o", "later": 1}})
    assert back.order_id == "o"
    assert back._metadata.id == "m1"


def test_metadata_headers_round_trip(shop):
    _, _, place_cls, _ = shop
    command = place_cls(order_id="o", quantity=1)
    command._metadata.headers["tenant"] = "acme"
    back = place_cls.from_message(json.loads(json.dumps(command.to_message())))
    assert back._metadata.headers == {"tenant": "acme"}
    assert back._metadata.kind == "COMMAND"


def test_command_metadata_is_filled_when_processed(make_domain):
    domain = make_domain("Shop")

    @domain.aggregate
    class Order(BaseAggregate):
        customer = String()

    @domain.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        id = Identifier(required=True)

    @domain.command_handler(part_of=Order)
    class Handler:
        @handle(PlaceOrder)
        def place(self, command):
            return command

    start(domain)
    with domain.domain_context():
        command = domain.process(PlaceOrder(id="o-9"))
    meta = command._metadata
    assert meta.type == "Shop.PlaceOrder.v1"
    assert meta.kind == "COMMAND"
    assert meta.stream == "shop::order:command-o-9"
    assert meta.correlation_id == meta.id
    assert meta.causation_id is None
    assert meta.time is not None
