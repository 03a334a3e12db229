"""Commands of the catalogue: intentions, validated before any handler runs."""

from __future__ import annotations

from archipel import BaseCommand
from archipel.fields import Decimal, Identifier, String, Text
from examples.bookshelf import domain
from examples.bookshelf.catalog.book import Book


@domain.command(part_of=Book)
class AddBook(BaseCommand):
    """Add a title to the catalogue (its inventory opens empty).

    ``book_id`` is optional: a client that cannot wait for the handler's answer
    (asynchronous processing) chooses the id, then polls ``/books/{book_id}``.
    """

    book_id = Identifier()
    title = String(max_length=200, required=True)
    author = String(max_length=150, required=True)
    isbn = String(max_length=17, required=True)  # hyphens allowed here, removed by the handler
    price = Decimal(required=True, min_value=0, decimal_places=2)
    currency = String(max_length=3, default="USD")
    description = Text()


@domain.command(part_of=Book)
class UpdateBookPrice(BaseCommand):
    """Reprice a book."""

    book_id = Identifier(required=True)
    price = Decimal(required=True, min_value=0, decimal_places=2)
