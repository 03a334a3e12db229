"""Commands of shipping."""

from __future__ import annotations

from archipel import BaseCommand
from archipel.fields import Identifier
from examples.bookshelf import domain
from examples.bookshelf.shipping.shipment import Shipment


@domain.command(part_of=Shipment)
class CreateShipment(BaseCommand):
    """Arrange the parcel of a confirmed order whose stock is reserved."""

    order_id = Identifier(required=True)
