"""``StorefrontView``: the shop window, books with price and availability."""

from __future__ import annotations

from archipel import BaseProjection, BaseProjector, current_domain, handle
from archipel.fields import Boolean, Decimal, Identifier, Integer, String
from examples.bookshelf import domain
from examples.bookshelf.catalog.book import Book
from examples.bookshelf.catalog.events import BookAdded, BookPriceUpdated
from examples.bookshelf.inventory.events import InventoryRestocked, StockReleased, StockReserved
from examples.bookshelf.inventory.inventory import Inventory


@domain.projection
class StorefrontView(BaseProjection):
    """One row per book, joining the catalogue and the inventory contexts."""

    book_id = Identifier(identifier=True, required=True)
    title = String(max_length=200, required=True)
    author = String(max_length=150, required=True)
    price = Decimal(decimal_places=2)
    currency = String(max_length=3)
    in_stock = Integer(default=0)
    available = Boolean(default=False)


@domain.projector(projector_for=StorefrontView, aggregates=[Book, Inventory])
class StorefrontProjector(BaseProjector):
    @handle(BookAdded)
    def on_book_added(self, event: BookAdded) -> None:
        current_domain.repository_for(StorefrontView).add(
            StorefrontView(
                book_id=event.book_id,
                title=event.title,
                author=event.author,
                price=event.price.amount,
                currency=event.price.currency,
            )
        )

    @handle(BookPriceUpdated)
    def on_price_updated(self, event: BookPriceUpdated) -> None:
        views = current_domain.repository_for(StorefrontView)
        view = views.get(event.book_id)
        view.price = event.new_price.amount
        views.add(view)

    # Inventory events carry the new on-hand count, so each one sets it:
    # replaying or reordering them cannot drift the number.
    @handle(InventoryRestocked)
    def on_restocked(self, event: InventoryRestocked) -> None:
        self._set_stock(event.book_id, event.on_hand)

    @handle(StockReserved)
    def on_reserved(self, event: StockReserved) -> None:
        self._set_stock(event.book_id, event.on_hand)

    @handle(StockReleased)
    def on_released(self, event: StockReleased) -> None:
        self._set_stock(event.book_id, event.on_hand)

    @staticmethod
    def _set_stock(book_id: str, on_hand: int) -> None:
        views = current_domain.repository_for(StorefrontView)
        view = views.get(book_id)
        view.in_stock = on_hand
        view.available = on_hand > 0
        views.add(view)
