"""Events of the ``Shipment`` aggregate (``part_of`` by name: ``shipment.py`` imports them)."""

from __future__ import annotations

from archipel import BaseEvent
from archipel.fields import Identifier, String
from examples.bookshelf import domain


@domain.event(part_of="Shipment")
class ShipmentCreated(BaseEvent):
    order_id = Identifier(required=True)
    tracking_number = String(max_length=40, required=True)
    carrier = String(max_length=50)


@domain.event(part_of="Shipment")
class ShipmentFailed(BaseEvent):
    order_id = Identifier(required=True)
    reason = String(max_length=300, required=True)
