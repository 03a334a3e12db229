"""Protean's documented field options and fields, each doing what its documentation says."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEntity, BaseEvent, BaseValueObject
from archipel.errors import ValidationError
from archipel.fields import (
    Auto,
    Custom,
    Date,
    DateTime,
    Decimal,
    Dict,
    HasMany,
    Identifier,
    Integer,
    List,
    String,
    ValueObjectFromEntity,
)
from tests.unit._support import start


# -- renamed_from -------------------------------------------------------------------------
class Renamed(BaseEvent):
    customer_email = String(renamed_from=["email", "mail"])
    total = Integer()


def test_renamed_from_loads_payloads_written_under_a_former_name():
    old = Renamed.from_message({"metadata": {"type": "Shop.Renamed.v1"}, "data": {"email": "a@x", "total": 3}})
    assert old.customer_email == "a@x"
    older = Renamed._from_primitive({"mail": "b@x"})
    assert older.customer_email == "b@x"
    both = Renamed._from_primitive({"customer_email": "new@x", "email": "old@x"})
    assert both.customer_email == "new@x"  # the current name wins
    with pytest.raises(TypeError):
        String(renamed_from=[""])


# -- Decimal precision / scale -----------------------------------------------------------
def test_decimal_precision_and_scale_limit_digits():
    class Price(BaseValueObject):
        amount = Decimal(precision=5, scale=2)

    assert Price(amount="123.45").amount == decimal.Decimal("123.45")
    for bad in ("1234.5", "1.234"):
        with pytest.raises(ValidationError):
            Price(amount=bad)


# -- Dict value_type ------------------------------------------------------------------------
def test_dict_value_type_cleans_every_value_and_round_trips():
    class Schedule(BaseValueObject):
        days = Dict(value_type=Date)

    schedule = Schedule(days={"start": "2024-05-01", "end": dt.date(2024, 5, 9)})
    assert schedule.days == {"start": dt.date(2024, 5, 1), "end": dt.date(2024, 5, 9)}
    assert schedule.to_dict() == {"days": {"start": "2024-05-01", "end": "2024-05-09"}}
    assert Schedule._from_primitive(schedule.to_dict()) == schedule
    with pytest.raises(ValidationError, match="value of 'start'"):
        Schedule(days={"start": "not a date"})


# -- auto_now / auto_now_add ---------------------------------------------------------------
def test_auto_now_add_stamps_the_first_save_and_auto_now_every_save(make_domain):
    shop = make_domain()

    @shop.aggregate
    class Note(BaseAggregate):
        text = String()
        created_at = DateTime(auto_now_add=True)
        updated_at = DateTime(auto_now=True)
        created_on = Date(auto_now_add=True)

    start(shop)
    with shop.domain_context():
        repo = shop.repository_for(Note)
        note = Note(text="a")
        assert note.created_at is None and note.updated_at is None
        repo.add(note)
        first = repo.get(note.id)
        assert isinstance(first.created_at, dt.datetime) and first.created_at.tzinfo is not None
        assert first.updated_at is not None and isinstance(first.created_on, dt.date)
        first.text = "b"
        repo.add(first)
        second = repo.get(note.id)
        assert second.created_at == first.created_at  # kept
        assert second.updated_at >= first.updated_at
    with pytest.raises(TypeError):
        DateTime(auto_now=True, auto_now_add=True)


# -- identity options ------------------------------------------------------------------------
def test_auto_identity_type_and_function_strategy():
    counter = iter(range(100, 200))

    class Ticket(BaseAggregate):
        ticket_id = Auto(identifier=True, identity_type="integer")
        serial = Auto(identity_strategy="function", identity_function=lambda: next(counter), identity_type="integer")
        code = Auto(identity_strategy="function", identity_function=lambda: "T-7")

    ticket = Ticket()
    assert isinstance(ticket.ticket_id, int) and ticket.ticket_id > 0
    assert ticket.serial == 100 and Ticket().serial == 101
    assert ticket.code == "T-7"
    with pytest.raises(TypeError, match="increment"):
        Auto(increment=True)
    with pytest.raises(TypeError, match="identity_function"):
        Auto(identity_strategy="function")
    with pytest.raises(TypeError):
        Auto(identity_type="roman")


def test_the_domain_identity_configuration_applies_to_auto_fields(make_domain):
    shop = make_domain(identity_type="integer")

    @shop.aggregate
    class Order(BaseAggregate):
        note = String()

    @shop.aggregate
    class Basket(BaseAggregate):
        basket_id = Auto(identifier=True, identity_type="string")

    start(shop)
    with shop.domain_context():
        order = Order(note="x")
        assert isinstance(order.id, int)
        shop.repository_for(Order).add(order)
        assert shop.repository_for(Order).get(order.id).note == "x"
        assert isinstance(Basket().basket_id, str)  # its own identity_type wins


# -- description / referenced_as ---------------------------------------------------------------
def test_description_and_referenced_as_are_kept_on_the_field():
    field = String(description="Customer e-mail", referenced_as="email_address")
    assert (field.description, field.referenced_as) == ("Customer e-mail", "email_address")


# -- Custom -----------------------------------------------------------------------------------
class Color:
    def __init__(self, hex_code: str) -> None:
        if len(hex_code) != 7 or not hex_code.startswith("#"):
            raise ValueError(f"{hex_code!r} is not a #rrggbb colour")
        self.hex = hex_code

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Color) and other.hex == self.hex

    def __hash__(self) -> int:
        return hash(self.hex)


def test_custom_field_with_pydantic_style_parser_and_serializer():
    pydantic = pytest.importorskip("pydantic")

    class Theme(BaseValueObject):
        brand = Custom(
            Color,
            validators=[pydantic.PlainValidator(Color), pydantic.AfterValidator(lambda c: c)],
            serializers=[pydantic.PlainSerializer(lambda c: c.hex)],
            required=True,
        )

    theme = Theme(brand="#112233")
    assert theme.brand == Color("#112233")
    assert theme.to_dict() == {"brand": "#112233"}
    assert Theme._from_primitive(theme.to_dict()) == theme
    with pytest.raises(ValidationError, match="not a #rrggbb"):
        Theme(brand="red")
    with pytest.raises(ValidationError):
        Theme()


def test_custom_field_with_plain_callables():
    class Palette(BaseValueObject):
        main = Custom(Color, validators=[Color], serializers=[lambda c: c.hex])

    assert Palette(main=Color("#000000")).to_dict() == {"main": "#000000"}
    with pytest.raises(TypeError):
        Custom(Color, choices=["#000000"])


# -- ValueObjectFromEntity ---------------------------------------------------------------------
def test_value_object_from_entity_mirrors_the_entity_fields(make_domain):
    shop = make_domain()

    @shop.aggregate
    class Order(BaseAggregate):
        items = HasMany("OrderItem")

    @shop.entity(part_of=Order)
    class OrderItem(BaseEntity):
        sku = String(required=True, max_length=10)
        quantity = Integer(min_value=1, default=1)

    @shop.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        order_id = Identifier()
        items = List(content_type=ValueObjectFromEntity(OrderItem))

    start(shop)
    command = PlaceOrder(order_id="o1", items=[{"sku": "A-1", "quantity": 2}, {"sku": "B-2"}])
    assert [(i.sku, i.quantity) for i in command.items] == [("A-1", 2), ("B-2", 1)]
    assert type(command.items[0]).__name__ == "OrderItemValueObject"
    with pytest.raises(ValidationError):
        PlaceOrder(order_id="o1", items=[{"quantity": 0}])
    assert PlaceOrder.from_message(command.to_message()).to_dict() == command.to_dict()


def test_value_object_from_entity_is_protean_s_top_level_function(make_domain):
    import archipel

    shop = make_domain()

    @shop.aggregate
    class Customer(BaseAggregate):
        name = String(required=True, max_length=20)
        email = String(unique=True)
        tier = Integer(default=1)

    start(shop)
    snapshot = archipel.value_object_from_entity(Customer, name="CustomerSnapshot", exclude={"tier"})
    assert snapshot.__name__ == "CustomerSnapshot" and issubclass(snapshot, BaseValueObject)
    value = snapshot(name="Ada")  # unique and identifier fields become optional, as in Protean
    assert value.to_dict() == {"name": "Ada", "email": None, "id": None}
    with pytest.raises(ValidationError):
        snapshot(name="x" * 21)


# -- via --------------------------------------------------------------------------------------
def test_via_names_the_child_field_that_holds_the_parent_identity(make_domain):
    shop = make_domain()

    @shop.aggregate
    class Order(BaseAggregate):
        lines = HasMany("Line", via="order_ref")

    @shop.entity(part_of=Order)
    class Line(BaseEntity):
        sku = String()

    start(shop)
    assert "order_ref" in Line._fields  # created, as Protean creates it
    with shop.domain_context():
        order = Order(lines=[Line(sku="a")])
        order.add_lines(Line(sku="b"))
        assert [line.order_ref for line in order.lines] == [order.id, order.id]
        shop.repository_for(Order).add(order)
        loaded = shop.repository_for(Order).get(order.id)
        assert {line.order_ref for line in loaded.lines} == {order.id}
