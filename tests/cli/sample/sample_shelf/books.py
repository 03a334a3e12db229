"""Books: an aggregate, its command and event, a handler, a projection and projector."""

from archipel import BaseAggregate, BaseCommand, BaseEvent, BaseProjection, current_domain, handle
from archipel.fields import Identifier, Integer, String
from sample_shelf import domain


@domain.aggregate
class Book(BaseAggregate):
    title = String(max_length=200, required=True)


@domain.event(part_of=Book)
class BookAdded(BaseEvent):
    book_id = Identifier(required=True)
    title = String(required=True)


@domain.event(part_of=Book)
class BookShelved(BaseEvent):
    book_id = Identifier(required=True)


@domain.command(part_of=Book)
class AddBook(BaseCommand):
    title = String(required=True)


@domain.command_handler(part_of=Book)
class BookCommandHandler:
    @handle(AddBook)
    def add(self, command: AddBook) -> str:
        book = Book(title=command.title)
        book.raise_(BookAdded(book_id=book.id, title=book.title))
        current_domain.repository_for(Book).add(book)
        return str(book.id)


@domain.projection
class ShelfCount(BaseProjection):
    shelf_id = Identifier(identifier=True)
    books = Integer(default=0)


@domain.projector(projector_for=ShelfCount, aggregates=[Book])
class ShelfCountProjector:
    @handle(BookAdded)
    def on_added(self, event: BookAdded) -> None:
        repo = current_domain.repository_for(ShelfCount)
        try:
            shelf = repo.get("main")
        except Exception:
            shelf = ShelfCount(shelf_id="main", books=0)
        shelf.books += 1
        repo.add(shelf)


@domain.event_handler(part_of=Book)
class ShelvingEventHandler:
    @handle(BookAdded)
    def shelve(self, event: BookAdded) -> None:
        # raising an event from a handler makes a second level in `events trace`
        book = current_domain.repository_for(Book).get(event.book_id)
        book.raise_(BookShelved(book_id=book.id))
        current_domain.repository_for(Book).add(book)
