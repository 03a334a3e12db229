"""``BookCommandHandler``: the catalogue's use cases."""

from __future__ import annotations

from archipel import BaseCommandHandler, current_domain, handle
from archipel.errors import ValidationError
from examples.bookshelf import domain
from examples.bookshelf.catalog.book import Book
from examples.bookshelf.catalog.commands import AddBook, UpdateBookPrice
from examples.bookshelf.catalog.isbn import normalise_isbn
from examples.bookshelf.money import Money


@domain.command_handler(part_of=Book)
class BookCommandHandler(BaseCommandHandler):
    @handle(AddBook)
    def add_book(self, command: AddBook) -> str:
        """Add the book and return its id; an ISBN is in the catalogue at most once."""
        isbn = normalise_isbn(command.isbn)
        books = current_domain.repository_for(Book)
        # read from the aggregates (not a projection): the check must see every book
        if books.find(isbn=isbn).total:
            raise ValidationError({"isbn": [f"A book with ISBN {isbn} is already in the catalogue"]})
        book = Book.add_to_catalog(
            title=command.title,
            author=command.author,
            isbn=isbn,
            price=Money(amount=command.price, currency=command.currency),
            description=command.description,
            book_id=command.book_id,
        )
        books.add(book)
        return str(book.id)

    @handle(UpdateBookPrice)
    def update_price(self, command: UpdateBookPrice) -> None:
        books = current_domain.repository_for(Book)
        book = books.get(command.book_id)
        book.change_price(Money(amount=command.price, currency=book.price.currency))
        books.add(book)
