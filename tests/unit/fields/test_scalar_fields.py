"""Scalar field types: what each accepts, converts and rejects, and its stored form."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest

from archipel import BaseAggregate
from archipel.errors import ValidationError
from archipel.fields import (
    Auto,
    Boolean,
    Date,
    DateTime,
    Decimal,
    Float,
    Identifier,
    Integer,
    String,
    Text,
)


def errors_of(cls: type, **values: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        cls(**values)
    return info.value.messages


# --- String and Text -------------------------------------------------------------


class Note(BaseAggregate):
    title = String(max_length=10, min_length=2)
    body = Text()
    code = String()


def test_string_keeps_text_as_given():
    assert Note(title="Hello").title == "Hello"


def test_string_converts_numbers_to_text():
    assert Note(title=42).title == "42"


def test_string_rejects_containers():
    assert "title" in errors_of(Note, title=["a", "b"])
    assert "title" in errors_of(Note, title={"a": 1})


def test_string_enforces_max_length_and_min_length():
    assert errors_of(Note, title="x" * 11) == {"title": ["must be at most 10 characters long"]}
    assert errors_of(Note, title="x") == {"title": ["must be at least 2 characters long"]}
    assert Note(title="x" * 10).title == "x" * 10
    assert Note(title="xy").title == "xy"


def test_string_defaults_to_255_characters_at_most():
    assert Note(code="c" * 255).code == "c" * 255
    assert "code" in errors_of(Note, code="c" * 256)


def test_text_has_no_length_limit():
    long = "word " * 10_000
    assert Note(body=long).body == long


# --- numbers ------------------------------------------------------------------------


class Measure(BaseAggregate):
    count = Integer(min_value=0, max_value=10)
    ratio = Float(min_value=0.0, max_value=1.0)
    price = Decimal(max_digits=5, decimal_places=2, min_value=decimal.Decimal("0"))


def test_integer_accepts_whole_numbers_and_numeric_text():
    assert Measure(count=3).count == 3
    assert Measure(count="7").count == 7
    assert Measure(count=4.0).count == 4


def test_integer_rejects_fractions_booleans_and_words():
    assert "count" in errors_of(Measure, count=2.5)
    assert "count" in errors_of(Measure, count=True)
    assert "count" in errors_of(Measure, count="seven")


def test_integer_bounds_are_inclusive():
    assert Measure(count=0).count == 0
    assert Measure(count=10).count == 10
    assert errors_of(Measure, count=-1) == {"count": ["must be greater than or equal to 0"]}
    assert errors_of(Measure, count=11) == {"count": ["must be less than or equal to 10"]}


def test_float_accepts_numbers_and_numeric_text():
    assert Measure(ratio=0.5).ratio == 0.5
    assert Measure(ratio="0.25").ratio == 0.25
    assert Measure(ratio=1).ratio == 1.0
    assert isinstance(Measure(ratio=1).ratio, float)


def test_float_rejects_booleans_words_and_values_out_of_bounds():
    assert "ratio" in errors_of(Measure, ratio=False)
    assert "ratio" in errors_of(Measure, ratio="half")
    assert "ratio" in errors_of(Measure, ratio=1.01)
    assert "ratio" in errors_of(Measure, ratio=-0.01)


def test_decimal_is_exact_and_built_from_text_of_floats():
    price = Measure(price=0.1).price
    assert price == decimal.Decimal("0.1")
    assert isinstance(price, decimal.Decimal)
    assert Measure(price="12.34").price == decimal.Decimal("12.34")


def test_decimal_checks_digits_places_and_bounds():
    assert errors_of(Measure, price="1.234") == {"price": ["must have at most 2 decimal places"]}
    assert errors_of(Measure, price="123.456") == {"price": ["must have at most 2 decimal places"]}
    assert errors_of(Measure, price="123456") == {"price": ["must have at most 5 digits"]}
    assert "price" in errors_of(Measure, price="-1")
    assert "price" in errors_of(Measure, price="abc")
    assert "price" in errors_of(Measure, price=True)


def test_decimal_leaves_room_for_its_decimal_places():
    # max_digits=5, decimal_places=2 holds at most 999.99 (like NUMERIC(5, 2))
    assert Measure(price="999.99").price == decimal.Decimal("999.99")
    assert "price" in errors_of(Measure, price="1234.5")
    assert "price" in errors_of(Measure, price="1000")


def test_decimal_is_stored_as_text_and_read_back_as_decimal():
    record = Measure(price="9.99").to_dict()
    assert record["price"] == "9.99"
    assert Measure._from_primitive(record).price == decimal.Decimal("9.99")


# --- booleans -------------------------------------------------------------------------


class Flag(BaseAggregate):
    on = Boolean(default=False)


@pytest.mark.parametrize("raw", [True, 1, "true", "Yes", " on ", "1", "t"])
def test_boolean_accepts_true_spellings(raw):
    assert Flag(on=raw).on is True


@pytest.mark.parametrize("raw", [False, 0, "false", "No", "off", "0", "f"])
def test_boolean_accepts_false_spellings(raw):
    assert Flag(on=raw).on is False


@pytest.mark.parametrize("raw", [2, "maybe", 0.5, []])
def test_boolean_rejects_anything_else(raw):
    assert "on" in errors_of(Flag, on=raw)


# --- dates ----------------------------------------------------------------------------


class Trip(BaseAggregate):
    day = Date()
    at = DateTime()


def test_date_accepts_dates_iso_text_and_datetimes_at_midnight():
    assert Trip(day=dt.date(2024, 2, 29)).day == dt.date(2024, 2, 29)
    assert Trip(day="2024-02-29").day == dt.date(2024, 2, 29)
    assert Trip(day=dt.datetime(2024, 2, 29)).day == dt.date(2024, 2, 29)


def test_date_refuses_a_datetime_with_a_time_of_day_rather_than_dropping_it():
    # as Protean: the time would be lost, so the value is an error, not stored altered
    errors = errors_of(Trip, day=dt.datetime(2024, 2, 29, 13, 5))
    assert "time of day" in errors["day"][0]
    assert "day" in errors_of(Trip, day=dt.datetime(2024, 2, 29, 0, 0, 0, 1))


def test_date_rejects_impossible_dates_and_other_types():
    assert "day" in errors_of(Trip, day="2023-02-29")
    assert "day" in errors_of(Trip, day=20240101)


def test_datetime_accepts_datetimes_iso_text_and_dates():
    moment = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC)
    assert Trip(at=moment).at == moment
    assert Trip(at="2024-05-01T08:30:00+00:00").at == moment
    assert Trip(at=dt.date(2024, 5, 1)).at == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def test_datetime_rejects_garbage():
    assert "at" in errors_of(Trip, at="yesterday")
    assert "at" in errors_of(Trip, at=1.5)


def test_dates_are_stored_as_iso_text_and_read_back_as_dates():
    moment = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC)
    record = Trip(day="2024-02-29", at=moment).to_dict()
    assert record["day"] == "2024-02-29"
    assert record["at"] == "2024-05-01T08:30:00+00:00"
    back = Trip._from_primitive(record)
    assert (back.day, back.at) == (dt.date(2024, 2, 29), moment)


# --- identities -----------------------------------------------------------------------


class Ticket(BaseAggregate):
    number = Identifier(identifier=True)
    owner = Identifier()


class Seat(BaseAggregate):
    seat_id = Auto(identifier=True)
    row = Integer()


class Counter(BaseAggregate):
    counter_id = Identifier(identifier=True, identity_type="integer")


def test_identifier_stores_text_numbers_and_uuids_as_text():
    key = uuid.uuid4()
    assert Ticket(number=key).number == str(key)
    assert Ticket(number=7).number == "7"
    assert Ticket(number="T-1", owner=99).owner == "99"


def test_identifier_rejects_booleans_and_containers():
    assert "owner" in errors_of(Ticket, number="T-1", owner=True)
    assert "owner" in errors_of(Ticket, number="T-1", owner=[1])


def test_integer_identity_type_casts_to_int():
    assert Counter(counter_id="12").counter_id == 12
    assert "counter_id" in errors_of(Counter, counter_id="twelve")


def test_auto_generates_a_new_uuid_per_instance_unless_given():
    first, second = Seat(), Seat()
    assert first.seat_id != second.seat_id
    assert uuid.UUID(first.seat_id).version == 4
    assert Seat(seat_id="A1").seat_id == "A1"


def test_an_explicit_identifier_replaces_the_automatic_id():
    assert Ticket._id_field == "number"
    assert "id" not in Ticket._fields
    assert Ticket(number="T-9")._identity() == "T-9"
