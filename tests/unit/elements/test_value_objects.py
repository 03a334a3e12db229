"""Value objects: equal and hashed by value, immutable, validated as a whole."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseValueObject, invariant
from archipel.errors import ConfigurationError, IncorrectUsageError, ValidationError
from archipel.fields import Decimal, Dict, HasMany, Identifier, List, Reference, String, ValueObject


class Money(BaseValueObject):
    amount = Decimal(required=True)
    currency = String(required=True, max_length=3)

    @invariant.post
    def not_negative(self):
        if self.amount < 0:
            raise ValidationError({"amount": ["cannot be negative"]})


class Label(BaseValueObject):
    words = List(content_type=String)
    meta = Dict()
    price = ValueObject(Money)


def test_equal_when_all_fields_are_equal():
    assert Money(amount="1.50", currency="EUR") == Money(amount="1.5", currency="EUR")
    assert Money(amount="1.50", currency="EUR") != Money(amount="1.50", currency="USD")


def test_not_equal_to_another_class_with_the_same_fields():
    class Cost(BaseValueObject):
        amount = Decimal(required=True)
        currency = String(required=True, max_length=3)

    assert Cost(amount="1", currency="EUR") != Money(amount="1", currency="EUR")


def test_hash_follows_equality_even_with_lists_dicts_and_nested_values():
    first = Label(words=["a", "b"], meta={"k": [1, 2]}, price={"amount": "2", "currency": "EUR"})
    second = Label(words=["a", "b"], meta={"k": [1, 2]}, price={"amount": "2.0", "currency": "EUR"})
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second}) == 1


def test_fields_cannot_be_changed():
    money = Money(amount="1", currency="EUR")
    with pytest.raises(IncorrectUsageError, match="immutable"):
        money.amount = 2
    assert money.amount == 1


def test_invariants_are_checked_at_creation():
    with pytest.raises(ValidationError) as info:
        Money(amount="-1", currency="EUR")
    assert info.value.messages == {"amount": ["cannot be negative"]}


def test_value_object_fields_are_replaced_not_mutated():
    class Account(BaseAggregate):
        balance = ValueObject(Money)

    account = Account(balance=Money(amount="1", currency="EUR"))
    account.balance = Money(amount="5", currency="EUR")
    assert account.balance == Money(amount="5", currency="EUR")
    with pytest.raises(ValidationError):
        account.balance = {"amount": "-5", "currency": "EUR"}
    assert account.balance == Money(amount="5", currency="EUR")


def test_value_objects_get_no_identity_field():
    assert "id" not in Money._fields
    assert Money._id_field is None


@pytest.mark.parametrize(
    ("field", "says"),
    [
        (lambda: Identifier(identifier=True), "is an identifier"),
        (lambda: String(unique=True), "is unique"),
        (lambda: HasMany("Anything"), "is an association"),
        (lambda: Reference("Anything"), "is an association"),
    ],
)
def test_a_value_object_refuses_identity_uniqueness_and_associations(field, says):
    with pytest.raises(ConfigurationError, match=f"Odd.x {says}"):
        type("Odd", (BaseValueObject,), {"x": field(), "__module__": __name__})
