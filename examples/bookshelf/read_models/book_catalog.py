"""``BookCatalog``: what customers browse and search (title, author, ISBN, price)."""

from __future__ import annotations

from archipel import BaseProjection, BaseProjector, current_domain, handle
from archipel.fields import Decimal, Identifier, String, Text
from examples.bookshelf import domain
from examples.bookshelf.catalog.book import Book
from examples.bookshelf.catalog.events import BookAdded, BookPriceUpdated


@domain.projection
class BookCatalog(BaseProjection):
    book_id = Identifier(identifier=True, required=True)
    title = String(max_length=200, required=True)
    author = String(max_length=150, required=True)
    isbn = String(max_length=13, required=True)
    price = Decimal(decimal_places=2)
    currency = String(max_length=3)
    description = Text()


@domain.projector(projector_for=BookCatalog, aggregates=[Book])
class BookCatalogProjector(BaseProjector):
    @handle(BookAdded)
    def on_book_added(self, event: BookAdded) -> None:
        current_domain.repository_for(BookCatalog).add(
            BookCatalog(
                book_id=event.book_id,
                title=event.title,
                author=event.author,
                isbn=event.isbn,
                price=event.price.amount,
                currency=event.price.currency,
                description=event.description,
            )
        )

    @handle(BookPriceUpdated)
    def on_price_updated(self, event: BookPriceUpdated) -> None:
        entries = current_domain.repository_for(BookCatalog)
        entry = entries.get(event.book_id)
        entry.price = event.new_price.amount
        entries.add(entry)
