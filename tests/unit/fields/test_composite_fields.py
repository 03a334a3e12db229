"""Fields holding collections or other elements: List, Dict, ValueObject, HasMany, HasOne,
Reference — conversion, validation and stored form."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from archipel import BaseAggregate, BaseEntity, BaseValueObject
from archipel.errors import ValidationError
from archipel.fields import (
    Date,
    Decimal,
    Dict,
    HasMany,
    HasOne,
    Integer,
    List,
    Reference,
    String,
    ValueObject,
)


class Money(BaseValueObject):
    amount = Decimal(required=True)
    currency = String(required=True, max_length=3)


class Line(BaseEntity):
    sku = String(required=True)
    quantity = Integer(default=1, min_value=1)


class Address(BaseEntity):
    street = String(required=True)


class Customer(BaseAggregate):
    name = String()


class Basket(BaseAggregate):
    labels = List(content_type=String)
    days = List(content_type=Date)
    scores = List(content_type=Integer)
    attributes = Dict()
    total = ValueObject(Money)
    lines = HasMany(Line)
    shipping = HasOne(Address)
    customer_id = Reference(Customer)


def errors_of(**values: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        Basket(**values)
    return info.value.messages


# --- List ---------------------------------------------------------------------------


def test_list_cleans_each_item_with_its_content_type():
    basket = Basket(scores=["1", 2, 3.0], days=["2024-01-02"])
    assert basket.scores == [1, 2, 3]
    assert basket.days == [dt.date(2024, 1, 2)]


def test_list_names_the_failing_item():
    assert errors_of(scores=[1, "two"]) == {"scores": ["item 1: expected a whole number, got 'two'"]}


def test_list_rejects_text_and_mappings():
    assert "labels" in errors_of(labels="abc")
    assert "labels" in errors_of(labels={"a": 1})


def test_list_accepts_tuples_and_generators_and_copies_the_input():
    source = ["a", "b"]
    basket = Basket(labels=source)
    source.append("c")
    assert basket.labels == ["a", "b"]
    assert Basket(labels=(x for x in "xy")).labels == ["x", "y"]


def test_list_items_are_stored_in_primitive_form():
    record = Basket(days=[dt.date(2024, 3, 1)]).to_dict()
    assert record["days"] == ["2024-03-01"]
    assert Basket._from_primitive(record).days == [dt.date(2024, 3, 1)]


# --- Dict ---------------------------------------------------------------------------


def test_dict_accepts_mappings_and_rejects_other_values():
    assert Basket(attributes={"gift": True}).attributes == {"gift": True}
    assert "attributes" in errors_of(attributes=["gift"])


def test_dict_accepts_elements_with_to_dict():
    money = Money(amount="1.50", currency="EUR")
    assert Basket(attributes=money).attributes == {"amount": "1.50", "currency": "EUR"}


# --- ValueObject ----------------------------------------------------------------------


def test_value_object_field_builds_from_a_mapping():
    basket = Basket(total={"amount": "9.90", "currency": "EUR"})
    assert basket.total == Money(amount=decimal.Decimal("9.90"), currency="EUR")


def test_value_object_field_reports_the_inner_failing_fields():
    messages = errors_of(total={"amount": "x", "currency": "EURO"})["total"]
    assert any(m.startswith("amount:") for m in messages)
    assert any(m.startswith("currency:") for m in messages)


def test_value_object_field_rejects_other_types():
    assert "total" in errors_of(total=12)


def test_value_object_is_stored_as_a_dict_and_rebuilt():
    record = Basket(total=Money(amount="2.5", currency="USD")).to_dict()
    assert record["total"] == {"amount": "2.5", "currency": "USD"}
    assert Basket._from_primitive(record).total == Money(amount="2.5", currency="USD")


# --- HasMany and HasOne -------------------------------------------------------------------


def test_has_many_builds_entities_from_mappings_and_defaults_to_empty():
    basket = Basket(lines=[{"sku": "A"}, Line(sku="B", quantity=2)])
    assert [(line.sku, line.quantity) for line in basket.lines] == [("A", 1), ("B", 2)]
    assert Basket().lines == []


def test_has_many_reports_invalid_children():
    messages = errors_of(lines=[{"quantity": 0}])["lines"]
    assert any("sku" in m for m in messages)
    assert any("quantity" in m for m in messages)


def test_has_many_rejects_a_single_mapping():
    assert "lines" in errors_of(lines={"sku": "A"})


def test_has_one_builds_an_entity_from_a_mapping():
    basket = Basket(shipping={"street": "1 Main St"})
    assert isinstance(basket.shipping, Address)
    assert basket.shipping.street == "1 Main St"


def test_children_are_stored_as_dicts_and_rebuilt_with_their_identity():
    basket = Basket(lines=[{"sku": "A"}], shipping={"street": "Elm"})
    record = basket.to_dict()
    assert record["lines"] == [{"id": basket.lines[0].id, "sku": "A", "quantity": 1}]
    assert record["shipping"] == {"id": basket.shipping.id, "street": "Elm"}
    back = Basket._from_primitive(record)
    assert back.lines == basket.lines
    assert back.shipping == basket.shipping


# --- Reference ------------------------------------------------------------------------------


def test_reference_takes_an_identity_or_an_instance():
    customer = Customer(name="Ann")
    assert Basket(customer_id=customer).customer_id == customer.id
    assert Basket(customer_id="c-1").customer_id == "c-1"
    assert Basket(customer_id=7).customer_id == "7"


def test_a_reference_is_also_read_and_set_under_protean_s_shadow_name():
    class Comment(BaseAggregate):
        post = Reference(Customer)

    customer = Customer(name="Ann")
    comment = Comment(post=customer)
    assert comment.post == comment.post_id == customer.id
    comment.post_id = "c-2"
    assert comment.post == "c-2"
    with pytest.raises(ValidationError):
        comment.post_id = [1]
    assert "post_id" not in comment.to_dict()
    # a field of that name wins: Basket's ``customer_id`` is itself the Reference
    assert Basket(customer_id="c-1").customer_id == "c-1"


def test_a_reference_is_given_to_the_constructor_under_protean_s_shadow_name():
    class Remark(BaseAggregate):
        post = Reference(Customer)

    customer = Customer(name="Ann")
    assert Remark(post_id=customer.id).post == customer.id
    assert Remark(post_id=customer).post_id == customer.id  # an instance, as post= takes
    assert Remark({"post_id": "c-3"}).post == "c-3"  # a template dict too
    assert Remark(post=customer, post_id=customer.id).post == customer.id  # the same identity
    with pytest.raises(ValidationError, match="post_id"):
        Remark(post=customer, post_id="someone-else")  # never silently one of the two
    with pytest.raises(ValidationError, match="post"):
        Remark(post_id=[1])
    with pytest.raises(ValidationError, match="postid"):
        Remark(postid="c-1")  # other unknown names stay errors


def test_reference_rejects_values_without_identity():
    assert "customer_id" in errors_of(customer_id=[1])
    assert "customer_id" in errors_of(customer_id=True)


def test_string_reference_is_unresolved_until_the_domain_resolves_it():
    class Crate(BaseAggregate):
        items = HasMany("CrateItem")

    with pytest.raises(ValidationError) as info:
        Crate(items=[{"name": "x"}])
    assert "not resolved yet" in info.value.messages["items"][0]
