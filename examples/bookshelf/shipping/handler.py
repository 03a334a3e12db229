"""``ShipmentCommandHandler``: arranging shipments."""

from __future__ import annotations

from archipel import BaseCommandHandler, current_domain, handle
from examples.bookshelf import domain
from examples.bookshelf.ordering.order import Order
from examples.bookshelf.shipping.commands import CreateShipment
from examples.bookshelf.shipping.shipment import Shipment


@domain.command_handler(part_of=Shipment)
class ShipmentCommandHandler(BaseCommandHandler):
    @handle(CreateShipment)
    def create_shipment(self, command: CreateShipment) -> str:
        """Arrange the shipment (once per order) and return its status."""
        shipments = current_domain.repository_for(Shipment)
        existing = shipments.get_or_none(command.order_id)
        if existing is not None:  # a redelivered command: the parcel is already booked
            return str(existing.status)
        order = current_domain.repository_for(Order).get(command.order_id)
        shipment = Shipment.arrange(command.order_id, order.shipping_address)
        shipments.add(shipment)
        return str(shipment.status)
