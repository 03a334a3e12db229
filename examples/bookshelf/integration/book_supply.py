"""``BookSupplyWebhookSubscriber``: the anti-corruption layer for the BookSupply distributor.

BookSupply posts its own JSON to our webhook, which lands as raw dicts on the
broker stream ``book_supply``. Its language is not ours: books are EAN-13
"skus", prices are integer cents, authors are "contributors". This subscriber
translates each payload into one of *our* commands, so nothing of the
distributor's model leaks into the domain::

    {"event": "title.listed", "sku": {"ean13": "..."}, "title": "...",
     "contributors": [{"name": "...", "role": "author"}],
     "list_price": {"cents": 1899, "currency": "USD"}}        -> AddBook / UpdateBookPrice
    {"event": "stock.replenished", "sku": {"ean13": "..."}, "units": 12}  -> RestockInventory

Payloads it does not understand are logged and dropped: a partner's new
message type must not break the bookstore.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from archipel import BaseSubscriber, current_domain
from examples.bookshelf import domain
from examples.bookshelf.catalog.commands import AddBook, UpdateBookPrice
from examples.bookshelf.inventory.commands import RestockInventory
from examples.bookshelf.read_models.book_catalog import BookCatalog

logger = logging.getLogger(__name__)

STREAM = "book_supply"
SOURCE = "BookSupply"


@domain.subscriber(stream=STREAM)
class BookSupplyWebhookSubscriber(BaseSubscriber):
    def __call__(self, payload: dict[str, Any]) -> None:
        kind = payload.get("event")
        if kind == "title.listed":
            self._title_listed(payload)
        elif kind == "stock.replenished":
            self._stock_replenished(payload)
        else:
            logger.info("BookSupply: ignoring a %r message", kind)

    @staticmethod
    def _isbn(payload: dict[str, Any]) -> str:
        return str((payload.get("sku") or {}).get("ean13", ""))

    @staticmethod
    def _book_id(isbn: str) -> str | None:
        found = current_domain.query_for(BookCatalog).find(isbn=isbn)
        return str(found.items[0].book_id) if found.total else None

    def _title_listed(self, payload: dict[str, Any]) -> None:
        isbn = self._isbn(payload)
        price = payload.get("list_price") or {}
        amount = (Decimal(int(price.get("cents", 0))) / 100).quantize(Decimal("0.01"))
        currency = str(price.get("currency", "USD"))
        book_id = self._book_id(isbn)
        if book_id is not None:  # a title we sell already: only its price may have moved
            current_domain.process(UpdateBookPrice(book_id=book_id, price=amount))
            return
        authors = [c.get("name") for c in payload.get("contributors") or [] if c.get("role") == "author"]
        current_domain.process(
            AddBook(
                title=payload.get("title"),
                author=" & ".join(a for a in authors if a) or None,
                isbn=isbn,
                price=amount,
                currency=currency,
                description=payload.get("blurb"),
            )
        )

    def _stock_replenished(self, payload: dict[str, Any]) -> None:
        isbn = self._isbn(payload)
        book_id = self._book_id(isbn)
        if book_id is None:
            logger.warning("BookSupply: stock for unknown ISBN %s ignored", isbn)
            return
        current_domain.process(
            RestockInventory(book_id=book_id, quantity=payload.get("units"), source=SOURCE)
        )
