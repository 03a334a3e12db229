"""The ``Shipment`` aggregate (the seed's "Shipping"): one parcel per order."""

from __future__ import annotations

from archipel import BaseAggregate
from archipel.fields import Identifier, String, ValueObject
from examples.bookshelf import domain
from examples.bookshelf.address import Address
from examples.bookshelf.shipping.events import ShipmentCreated, ShipmentFailed

CARRIER = "Parcelnet"


def tracking_number_for(order_id: str) -> str:
    """The carrier's tracking number (derived from the order: arranging twice gives the same)."""
    return "PN-" + order_id.replace("-", "")[:10].upper()


@domain.aggregate
class Shipment(BaseAggregate):
    """Identified by the order it ships, so an order has at most one shipment."""

    order_id = Identifier(identifier=True)
    address = ValueObject(Address, required=True)
    status = String(max_length=20, choices=("CREATED", "FAILED"), required=True)
    carrier = String(max_length=50)
    tracking_number = String(max_length=40)
    failure_reason = String(max_length=300)

    @classmethod
    def arrange(cls, order_id: str, address: Address) -> Shipment:
        """Book the parcel with the carrier, who refuses addresses without a street."""
        if not address.is_deliverable:
            reason = f"{CARRIER} cannot deliver to {address.one_line()!r}: the address has no street"
            shipment = cls(order_id=order_id, address=address, status="FAILED", failure_reason=reason)
            shipment.raise_(ShipmentFailed(order_id=order_id, reason=reason))
            return shipment
        tracking = tracking_number_for(order_id)
        shipment = cls(
            order_id=order_id, address=address, status="CREATED", carrier=CARRIER, tracking_number=tracking
        )
        shipment.raise_(ShipmentCreated(order_id=order_id, tracking_number=tracking, carrier=CARRIER))
        return shipment
