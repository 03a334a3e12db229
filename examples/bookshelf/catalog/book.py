"""The ``Book`` aggregate: one title of the catalogue and its price."""

from __future__ import annotations

from archipel import BaseAggregate, invariant
from archipel.errors import ValidationError
from archipel.fields import String, Text, ValueObject
from examples.bookshelf import domain
from examples.bookshelf.catalog.events import BookAdded, BookPriceUpdated
from examples.bookshelf.catalog.isbn import check_isbn13
from examples.bookshelf.money import Money


@domain.aggregate
class Book(BaseAggregate):
    """A title for sale. Its price is always positive."""

    title = String(max_length=200, required=True)
    author = String(max_length=150, required=True)
    isbn = String(max_length=13, required=True, validators=[check_isbn13])
    price = ValueObject(Money, required=True)
    description = Text()

    @invariant.post
    def price_must_be_positive(self) -> None:
        if self.price is not None and self.price.amount <= 0:
            raise ValidationError({"price": [f"A book's price must be greater than zero, not {self.price}"]})

    @classmethod
    def add_to_catalog(
        cls,
        *,
        title: str,
        author: str,
        isbn: str,
        price: Money,
        description: str | None = None,
        book_id: str | None = None,
    ) -> Book:
        """Create a book (with ``book_id`` when the caller chose it) and record that it was added."""
        chosen = {"id": book_id} if book_id else {}
        book = cls(title=title, author=author, isbn=isbn, price=price, description=description, **chosen)
        book.raise_(
            BookAdded(
                book_id=book.id,
                title=book.title,
                author=book.author,
                isbn=book.isbn,
                price=book.price,
                description=book.description,
            )
        )
        return book

    def change_price(self, new_price: Money) -> None:
        """Reprice the book; setting the current price again changes nothing."""
        if new_price == self.price:
            return
        old_price = self.price
        self.price = new_price  # the post invariant rejects zero here too
        self.raise_(BookPriceUpdated(book_id=self.id, old_price=old_price, new_price=new_price))
