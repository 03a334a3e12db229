"""Generated ``_from_primitive``: an element loaded from stored data is what the generic load gives.

Element classes get a ``_fill_from_primitive`` and a ``_from_primitive``
written for their fields (``archipel.core._codegen``): every load of an
aggregate, projection or event from storage goes through them. The generic
:class:`BaseModel` methods define the behaviour: a missing key is None,
converting fields (dates, value objects, children) rebuild their values,
``_after_load`` runs (an aggregate wires its children). Classes that rename
fields or define their own load keep the generic or their own method.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseEntity, BaseEvent, BaseProjection, BaseValueObject
from archipel.core.model import BaseModel
from archipel.fields import (
    Date,
    DateTime,
    Decimal,
    HasMany,
    Identifier,
    Integer,
    List,
    String,
    ValueObject,
)


class Money(BaseValueObject):
    amount = Integer()
    currency = String(max_length=3)


class Line(BaseEntity):
    sku = String(max_length=8)
    quantity = Integer()


class Basket(BaseAggregate):
    owner = String(max_length=8)
    placed = DateTime()
    due = Date()
    total = ValueObject(Money)
    lines = HasMany(Line)
    tags = List(content_type=String)
    price = Decimal()


class Summary(BaseProjection):
    basket_id = Identifier(identifier=True)
    owner = String(max_length=8)
    count = Integer()


class Renamed(BaseProjection):
    key = Identifier(identifier=True)
    email = String(renamed_from=["mail"])


class Placed(BaseEvent):
    basket_id = Identifier()
    when = DateTime()


def generic_load(cls: type, data: dict[str, Any]) -> Any:
    """BaseModel's own load: fill field by field, then the ``_after_load`` hook."""
    obj = BaseModel.__dict__["_fill_from_primitive"].__func__(cls, data)
    obj._after_load()
    return obj


def state(obj: Any) -> dict[str, Any]:
    """What a user sees of a loaded object: its values (children as their data and owner)."""
    values = dict(obj.__dict__)
    lines = values.get("lines")
    if isinstance(lines, list):
        values["lines"] = [(line.to_dict(), line.__dict__["_root"] is obj) for line in lines]
    return values


owners = st.none() | st.text(max_size=8)
baskets = st.fixed_dictionaries(
    {},
    optional={
        "id": st.uuids().map(str),
        "owner": owners,
        "placed": st.none() | st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()),
        "due": st.none() | st.dates().map(lambda d: d.isoformat()),
        "total": st.none()
        | st.fixed_dictionaries({"amount": st.integers(-1000, 1000), "currency": st.sampled_from(["EUR", "USD"])}),
        "lines": st.none()
        | st.lists(
            st.fixed_dictionaries(
                {"id": st.uuids().map(str), "sku": st.text(max_size=8), "quantity": st.integers(0, 9)}
            ),
            max_size=3,
        ),
        "tags": st.none() | st.lists(st.text(max_size=4), max_size=3),
        "price": st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
        "unknown": st.integers(),
    },
)


@settings(max_examples=200, deadline=None)
@given(data=baskets)
def test_an_aggregate_loads_as_the_generic_load_gives_it(data: dict[str, Any]) -> None:
    loaded = Basket._from_primitive(data)
    assert state(loaded) == state(generic_load(Basket, data))
    assert type(loaded) is Basket and loaded.__dict__["_changed"] is False
    assert Basket._fill_from_primitive(data).__dict__.keys() == set(Basket._fields)


@settings(max_examples=100, deadline=None)
@given(owner=owners, count=st.none() | st.integers(), drop=st.booleans())
def test_a_projection_and_an_event_load_as_the_generic_load_gives_them(
    owner: str | None, count: int | None, drop: bool
) -> None:
    data = {"basket_id": "b-1", "owner": owner, "count": count}
    if drop:
        del data["owner"]  # a column added after the row was written: None
    assert state(Summary._from_primitive(data)) == state(generic_load(Summary, data))
    event_data = {"basket_id": "b-1", "when": "2026-12-06T10:00:00+00:00"}
    assert Placed._fill_from_primitive(event_data).__dict__ == BaseModel.__dict__[
        "_fill_from_primitive"
    ].__func__(Placed, event_data).__dict__


def test_the_classes_compared_have_generated_loads_and_values_are_converted() -> None:
    for cls in (Basket, Summary, Placed):
        assert getattr(cls._from_primitive.__func__, "_archipel_generated", False), cls
    basket = Basket._from_primitive(
        {"id": "b", "placed": "2026-12-06T10:00:00+00:00", "price": "1.10", "total": {"amount": 3, "currency": "EUR"}}
    )
    assert basket.placed == dt.datetime(2026, 12, 6, 10, tzinfo=dt.UTC)
    assert basket.price == decimal.Decimal("1.10") and basket.total == Money(amount=3, currency="EUR")


def test_a_renamed_field_and_an_own_load_keep_their_methods() -> None:
    assert Renamed._from_primitive({"key": "k", "mail": "a@b.c"}).email == "a@b.c"  # the former name

    class Custom(BaseProjection):
        key = Identifier(identifier=True)
        name = String()

        @classmethod
        def _from_primitive(cls, data: dict[str, Any]) -> Any:
            obj = super()._from_primitive(data)
            obj.__dict__["name"] = (obj.name or "").upper()
            return obj

    assert Custom._from_primitive({"key": "k", "name": "ada"}).name == "ADA"

    class Child(Custom):  # inherits the user's load
        extra = Integer()

    assert Child._from_primitive({"key": "k", "name": "bob", "extra": 1}).name == "BOB"
