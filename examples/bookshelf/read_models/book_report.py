"""``BookReport``: sales per book, for the back office."""

from __future__ import annotations

from decimal import Decimal as D

from archipel import BaseProjection, BaseProjector, current_domain, handle
from archipel.fields import Decimal, Identifier, Integer, String
from examples.bookshelf import domain
from examples.bookshelf.catalog.book import Book
from examples.bookshelf.catalog.events import BookAdded
from examples.bookshelf.ordering.events import OrderShipped
from examples.bookshelf.ordering.order import Order


@domain.projection
class BookReport(BaseProjection):
    book_id = Identifier(identifier=True, required=True)
    title = String(max_length=200, required=True)
    copies_sold = Integer(default=0)
    orders = Integer(default=0)
    revenue = Decimal(decimal_places=2, default=D("0.00"))


@domain.projector(projector_for=BookReport, aggregates=[Book, Order])
class BookReportProjector(BaseProjector):
    @handle(BookAdded)
    def on_book_added(self, event: BookAdded) -> None:
        current_domain.repository_for(BookReport).add(BookReport(book_id=event.book_id, title=event.title))

    @handle(OrderShipped)
    def on_order_shipped(self, event: OrderShipped) -> None:
        """A sale counts when it ships (cancelled orders never reach the report)."""
        reports = current_domain.repository_for(BookReport)
        for line in event.lines:
            report = reports.get(line.book_id)
            report.copies_sold += line.quantity
            report.orders += 1
            report.revenue = report.revenue + line.subtotal.amount
            reports.add(report)
