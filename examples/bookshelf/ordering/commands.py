"""Commands of ordering."""

from __future__ import annotations

from archipel import BaseCommand
from archipel.fields import Dict, Identifier, List, String, ValueObject
from examples.bookshelf import domain
from examples.bookshelf.address import Address
from examples.bookshelf.ordering.order import Order


@domain.command(part_of=Order)
class PlaceOrder(BaseCommand):
    """A customer orders books: ``items`` is ``[{"book_id": ..., "quantity": n}, ...]``.

    Titles and prices come from the catalogue, never from the client. ``order_id``
    is optional: an asynchronous client chooses it, then polls ``/orders/{order_id}``.
    """

    order_id = Identifier()

    customer_name = String(max_length=150, required=True)
    customer_email = String(max_length=254, required=True)
    shipping_address = ValueObject(Address, required=True)
    items = List(content_type=Dict, required=True)


@domain.command(part_of=Order)
class ConfirmOrder(BaseCommand):
    order_id = Identifier(required=True)


@domain.command(part_of=Order)
class ShipOrder(BaseCommand):
    order_id = Identifier(required=True)
    tracking_number = String(max_length=40, required=True)


@domain.command(part_of=Order)
class CancelOrder(BaseCommand):
    order_id = Identifier(required=True)
    reason = String(max_length=300, required=True)
