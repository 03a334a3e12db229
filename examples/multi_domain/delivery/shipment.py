"""The ``Shipment`` aggregate, its events, commands and use cases."""

from __future__ import annotations

from typing import Any

from archipel import BaseAggregate, BaseCommand, BaseEvent, current_domain, handle
from archipel.errors import InvalidOperation
from archipel.fields import Auto, Identifier, String, Text
from examples.multi_domain.delivery import delivery_domain
from examples.multi_domain.delivery.recipients import Recipient

#: scheduled -> in_transit -> delivered; on_hold when there is no address to ship to
SHIPMENT_STATUSES = ("scheduled", "on_hold", "in_transit", "delivered")


@delivery_domain.aggregate
class Shipment(BaseAggregate):
    """One parcel for one order (stream category ``delivery::shipment``)."""

    shipment_id = Auto(identifier=True)
    order_id = Identifier(required=True)
    customer_id = Identifier(required=True)
    address = Text()
    status = String(default="scheduled", choices=SHIPMENT_STATUSES)
    tracking_code = String(max_length=40)
    signed_by = String(max_length=80)

    @classmethod
    def schedule(cls, order_id: str, customer_id: str, address: str | None) -> Shipment:
        shipment = cls(
            order_id=order_id,
            customer_id=customer_id,
            address=address,
            status="scheduled" if address else "on_hold",
        )
        shipment.raise_(
            ShipmentScheduled(
                shipment_id=shipment.shipment_id,
                order_id=order_id,
                address=address,
                status=shipment.status,
            )
        )
        return shipment

    def picked_up(self, tracking_code: str) -> None:
        if self.status in ("in_transit", "delivered"):
            return  # the carrier repeats itself: webhooks are at-least-once
        if self.status != "scheduled":
            raise InvalidOperation(f"shipment {self.shipment_id} is {self.status}: nothing to pick up")
        self.status = "in_transit"
        self.tracking_code = tracking_code
        self.raise_(
            ShipmentPickedUp(shipment_id=self.shipment_id, order_id=self.order_id, tracking_code=tracking_code)
        )

    def delivered(self, signed_by: str | None) -> None:
        if self.status == "delivered":
            return
        if self.status not in ("scheduled", "in_transit"):
            raise InvalidOperation(f"shipment {self.shipment_id} is {self.status}: it cannot be delivered")
        self.status = "delivered"
        self.signed_by = signed_by
        self.raise_(ShipmentDelivered(shipment_id=self.shipment_id, order_id=self.order_id, signed_by=signed_by))


@delivery_domain.event(part_of=Shipment)
class ShipmentScheduled(BaseEvent):
    shipment_id = Identifier(required=True)
    order_id = Identifier(required=True)
    address = Text()
    status = String(required=True)


@delivery_domain.event(part_of=Shipment)
class ShipmentPickedUp(BaseEvent):
    shipment_id = Identifier(required=True)
    order_id = Identifier(required=True)
    tracking_code = String(required=True)


@delivery_domain.event(part_of=Shipment)
class ShipmentDelivered(BaseEvent):
    shipment_id = Identifier(required=True)
    order_id = Identifier(required=True)
    signed_by = String()


@delivery_domain.command(part_of=Shipment)
class ScheduleShipment(BaseCommand):
    order_id = Identifier(required=True)
    customer_id = Identifier(required=True)


@delivery_domain.command(part_of=Shipment)
class RecordPickup(BaseCommand):
    shipment_id = Identifier(required=True)
    tracking_code = String(required=True, max_length=40)


@delivery_domain.command(part_of=Shipment)
class RecordDelivery(BaseCommand):
    shipment_id = Identifier(required=True)
    signed_by = String(max_length=80)


@delivery_domain.command_handler(part_of=Shipment)
class ShipmentCommands:
    @handle(ScheduleShipment)
    def schedule(self, command: ScheduleShipment) -> Any:
        # The address comes from delivery's own Recipient, kept in sync from
        # Accounts' events: no call to the accounts context at shipping time.
        found = current_domain.repository_for(Recipient).find(customer_id=command.customer_id)
        address = found.items[0].delivery_address if found.total else None
        shipment = Shipment.schedule(command.order_id, command.customer_id, address)
        current_domain.repository_for(Shipment).add(shipment)
        return shipment.shipment_id

    @handle(RecordPickup)
    def pickup(self, command: RecordPickup) -> None:
        repo = current_domain.repository_for(Shipment)
        shipment = repo.get(command.shipment_id)
        shipment.picked_up(command.tracking_code)
        repo.add(shipment)

    @handle(RecordDelivery)
    def delivery(self, command: RecordDelivery) -> None:
        repo = current_domain.repository_for(Shipment)
        shipment = repo.get(command.shipment_id)
        shipment.delivered(command.signed_by)
        repo.add(shipment)
