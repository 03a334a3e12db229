"""``OrderLine``: one line of an order as the order's events carry it."""

from __future__ import annotations

from archipel import BaseValueObject
from archipel.fields import Identifier, Integer, String, ValueObject
from examples.bookshelf import domain
from examples.bookshelf.money import Money


@domain.value_object
class OrderLine(BaseValueObject):
    """A snapshot of an order item: which book, how many, at what price."""

    book_id = Identifier(required=True)
    title = String(max_length=200, required=True)
    quantity = Integer(required=True, min_value=1)
    unit_price = ValueObject(Money, required=True)

    @property
    def subtotal(self) -> Money:
        return self.unit_price.times(self.quantity)
