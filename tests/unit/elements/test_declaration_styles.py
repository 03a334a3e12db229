"""Every documented way to declare a field works on every element kind, or says why not.

Styles: assignment (``name = String()``), annotation (``name: String(max_length=5)``,
with or without ``= default``) and plain type hints (``name: str``, ``age: int = 0``,
``note: str | None = None``, ``tags: list[str]``, ...). Classes are built with
``types.new_class`` so the hints are real objects here; the domain tests below use
class statements in this module, where ``from __future__ import annotations`` makes
them text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import types
import typing
import uuid
from typing import Any, ClassVar

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, BaseProjection, BaseValueObject
from archipel.core.entity import BaseEntity
from archipel.core.process_manager import BaseProcessManager
from archipel.errors import ConfigurationError, ValidationError
from archipel.fields import Identifier, Integer, String, Text, ValueObject
from tests.unit._support import start


class Money(BaseValueObject):
    amount = Integer(required=True)
    currency = String(max_length=3, default="EUR")


BASES = {
    "aggregate": BaseAggregate,
    "entity": BaseEntity,
    "value_object": BaseValueObject,
    "command": BaseCommand,
    "event": BaseEvent,
    "projection": BaseProjection,
    "process_manager": BaseProcessManager,
}


def declare(kind: str, annotations: dict[str, Any], defaults: dict[str, Any] | None = None) -> type:
    """A subclass of ``kind``'s base whose body holds ``annotations`` (and ``defaults``)."""

    def body(ns: dict[str, Any]) -> None:
        ns["__annotations__"] = dict(annotations)
        ns.update(defaults or {})
        if kind == "projection":
            ns["__annotations__"]["key"] = Identifier(identifier=True)

    return types.new_class(f"Declared{kind.title()}", (BASES[kind],), exec_body=body)


def build(cls: type, **values: Any) -> Any:
    if "key" in cls._fields and "key" not in values:
        values["key"] = "k-1"
    return cls(**values)


def roundtrip(obj: Any) -> Any:
    return type(obj)._from_primitive(obj.to_dict())


@pytest.mark.parametrize("kind", sorted(BASES))
def test_annotation_style_declares_a_validated_field(kind):
    cls = declare(kind, {"name": String(max_length=5, required=True)})
    assert "name" in cls._fields
    obj = build(cls, name="tiny")
    assert obj.name == "tiny"
    assert roundtrip(obj).name == "tiny"
    with pytest.raises(ValidationError) as err:
        build(cls, name="far too long")
    assert "name" in err.value.messages
    with pytest.raises(ValidationError):
        build(cls)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_annotation_style_with_a_default(kind):
    cls = declare(kind, {"status": String(max_length=10)}, {"status": "draft"})
    assert build(cls).status == "draft"
    assert build(cls, status="final").status == "final"
    assert isinstance(cls.status, String)  # the class attribute is the field, not "draft"


@pytest.mark.parametrize("kind", sorted(BASES))
def test_plain_type_hints_declare_typed_fields(kind):
    cls = declare(
        kind,
        {
            "name": str,
            "age": int,
            "note": str | None,
            "tags": list[str],
            "price": decimal.Decimal,
            "at": dt.datetime,
            "day": dt.date,
            "active": bool,
            "extra": dict,
            "ratio": float,
            "money": Money | None,
            "ref": uuid.UUID,
        },
        {"age": 0, "note": None, "active": False, "ratio": 0.5},
    )
    assert set(cls._fields) >= {"name", "age", "note", "tags", "price", "at", "day", "active",
                                "extra", "ratio", "money", "ref"}
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    obj = build(
        cls,
        name="Ann",
        tags=["a", "b"],
        price="9.90",
        at=when.isoformat(),
        day="2024-05-01",
        extra={"k": 1},
        money={"amount": 3},
        ref=uuid.UUID(int=7),
    )
    assert (obj.age, obj.note, obj.active, obj.ratio) == (0, None, False, 0.5)
    assert obj.price == decimal.Decimal("9.90")
    assert obj.at == when and obj.day == dt.date(2024, 5, 1)
    assert obj.money == Money(amount=3)
    assert obj.ref == str(uuid.UUID(int=7))
    back = roundtrip(obj)
    assert back.to_dict() == obj.to_dict()
    assert back.price == decimal.Decimal("9.90") and back.money == Money(amount=3)


@pytest.mark.parametrize("kind", sorted(BASES))
def test_plain_hints_validate_and_are_required_without_a_default(kind):
    cls = declare(kind, {"name": str, "age": int, "note": str | None, "tags": list[str]}, {"age": 0})
    with pytest.raises(ValidationError) as err:
        build(cls)
    assert set(err.value.messages) == {"name", "tags"}  # age has a default, note admits None
    with pytest.raises(ValidationError) as err:
        build(cls, name="x", tags=[], age="not a number")
    assert "age" in err.value.messages
    assert build(cls, name="x", tags=[], age="7").age == 7


def test_assignment_annotation_and_hint_styles_mix_in_one_class():
    cls = declare("aggregate", {"title": String(max_length=20), "pages": int, "isbn": str},
                  {"pages": 1, "isbn": Text(required=True)})
    cls.author = None  # noqa: B010 - not a field: a plain attribute set later
    assert {"title", "pages", "isbn"} <= set(cls._fields)
    assert isinstance(cls._fields["isbn"], Text) and cls._fields["isbn"].required


def test_hints_that_are_not_fields_are_left_alone():
    def body(ns: dict[str, Any]) -> None:
        ns["__annotations__"] = {"counter": ClassVar[int], "_cache": dict, "size": int}
        ns["counter"] = 0
        ns["size"] = property(lambda self: 3)

    cls = types.new_class("Plain", (BaseAggregate,), exec_body=body)
    assert set(cls._fields) == {"id"}
    assert cls().size == 3


def test_more_hint_forms():
    class Colour(enum.Enum):
        RED = "red"
        BLUE = "blue"

    cls = declare(
        "value_object",
        {
            "colour": Colour,
            "size": typing.Literal["S", "M"],
            "code": typing.Annotated[str, String(max_length=2)],
            "anything": Any,
            "money_list": list[Money],
            "old_style": typing.Optional[int],  # noqa: UP045 - the spelling under test
        },
    )
    obj = cls(colour=Colour.RED, size="S", code="ab", anything=[1], money_list=[{"amount": 1}])
    assert obj.colour == "red" and obj.money_list == [Money(amount=1)] and obj.old_style is None
    for bad in ({"colour": "green"}, {"size": "XL"}, {"code": "abc"}):
        with pytest.raises(ValidationError):
            cls(**{"colour": "red", "size": "S", "code": "ab", "anything": 1, **bad})
    assert roundtrip(obj).money_list == [Money(amount=1)]


@pytest.mark.parametrize(
    "hint",
    [set[str], int | str, tuple[int, int], complex, object.__new__(type("Odd", (), {}))],
)
def test_a_hint_archipel_cannot_store_is_a_configuration_error(hint):
    with pytest.raises(ConfigurationError) as err:
        declare("aggregate", {"weird": hint})
    assert "DeclaredAggregate.weird" in str(err.value)


def test_an_aggregate_hint_asks_for_a_reference():
    class Customer(BaseAggregate):
        name = String()

    with pytest.raises(ConfigurationError, match="Reference"):
        declare("aggregate", {"customer": Customer})


# -- in a domain, with text hints (this module uses ``from __future__ import annotations``)


def test_plain_classes_with_annotations_in_a_domain(make_domain):
    shop = make_domain("Shop")

    @shop.aggregate
    class Book:
        title: String(max_length=50, required=True)
        pages: int = 0
        subtitle: str | None = None
        tags: list[str]
        price: Price | None = None  # declared below: resolved by init()
        isbn = String(max_length=13)

    @shop.value_object
    class Price:
        amount: decimal.Decimal
        currency: str = "EUR"

    @shop.event(part_of=Book)
    class BookAdded:
        book_id: Identifier(required=True)
        title: str

    @shop.command(part_of=Book)
    class AddBook:
        title: str

    start(shop)
    assert {"title", "pages", "subtitle", "tags", "price", "isbn"} <= set(Book._fields)
    with shop.domain_context():
        repo = shop.repository_for(Book)
        book = Book(title="Dune", tags=["sf"], price=Price(amount="12.50"), isbn="123")
        repo.add(book)
        loaded = repo.get(book.id)
        assert loaded.to_dict() == book.to_dict()
        assert loaded.price == Price(amount=decimal.Decimal("12.50"), currency="EUR")
        with pytest.raises(ValidationError) as err:
            Book(title="x" * 51, tags=[])
        assert "title" in err.value.messages
        assert BookAdded(book_id="b1", title="Dune").to_dict()["title"] == "Dune"
        with pytest.raises(ValidationError):
            AddBook()


def test_a_hint_naming_nothing_known_fails_init_naming_class_and_attribute(make_domain):
    shop = make_domain("Shop")

    @shop.aggregate
    class Shelf:
        label: str
        spot: Nowhere  # noqa: F821 - the undefined name under test

    with pytest.raises(ConfigurationError, match=r"Shelf\.spot"):
        shop.init(traverse=False)


def test_constructing_a_class_with_an_unresolved_hint_is_a_configuration_error():
    class Box(BaseValueObject):
        inside: Later  # noqa: F821 - never defined

    with pytest.raises(ConfigurationError, match=r"Box\.inside"):
        Box()


def test_value_object_field_declared_by_hint_is_a_value_object_field():
    cls = declare("aggregate", {"money": Money})
    assert isinstance(cls._fields["money"], ValueObject)
    assert cls._fields["money"].required


# -- Protean's "raw Pydantic" style ----------------------------------------------------------
def test_pydantic_field_in_annotated_or_as_default():
    pydantic = pytest.importorskip("pydantic")
    cls = declare(
        "aggregate",
        {
            "name": typing.Annotated[str, pydantic.Field(max_length=5, min_length=2, description="who")],
            "age": typing.Annotated[int, pydantic.Field(ge=0, lt=130, default=1)],
            "code": str,
            "tags": list[str],
        },
        {"code": pydantic.Field(pattern=r"^[A-Z]{3}$", default="ABC"), "tags": pydantic.Field(default_factory=list)},
    )
    obj = cls(name="Ann")
    assert (obj.age, obj.code, obj.tags) == (1, "ABC", [])
    assert cls._fields["name"].description == "who" and cls._fields["name"].required
    for bad in ({"name": "A"}, {"name": "Annabelle"}, {"name": "Ann", "age": 130},
                {"name": "Ann", "age": -1}, {"name": "Ann", "code": "abc"}):
        with pytest.raises(ValidationError):
            cls(**bad)
    with pytest.raises(ValidationError):
        cls()  # name is required: no default


def test_a_pydantic_setting_archipel_does_not_support_is_a_configuration_error():
    pydantic = pytest.importorskip("pydantic")
    with pytest.raises(ConfigurationError, match="alias"):
        declare("aggregate", {"name": typing.Annotated[str, pydantic.Field(alias="n")]})
    with pytest.raises(ConfigurationError, match="max_length"):
        declare("aggregate", {"flag": typing.Annotated[bool, pydantic.Field(max_length=3)]})
