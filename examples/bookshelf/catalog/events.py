"""Events of the ``Book`` aggregate: what happened to the catalogue.

They name their aggregate by string (``part_of="Book"``, resolved by
``domain.init()``) because ``book.py`` imports this module to raise them:
imports stay one-way.
"""

from __future__ import annotations

from archipel import BaseEvent
from archipel.fields import Identifier, String, Text, ValueObject
from examples.bookshelf import domain
from examples.bookshelf.money import Money


@domain.event(part_of="Book")
class BookAdded(BaseEvent):
    """A book entered the catalogue."""

    book_id = Identifier(required=True)
    title = String(max_length=200, required=True)
    author = String(max_length=150, required=True)
    isbn = String(max_length=13, required=True)
    price = ValueObject(Money, required=True)
    description = Text()


@domain.event(part_of="Book")
class BookPriceUpdated(BaseEvent):
    """A book's price changed (the old price is kept for reports and audits)."""

    book_id = Identifier(required=True)
    old_price = ValueObject(Money, required=True)
    new_price = ValueObject(Money, required=True)
