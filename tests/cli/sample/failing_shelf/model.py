"""Parcels, and a courier who is on strike."""

from archipel import BaseAggregate, BaseCommand, BaseEvent, current_domain, handle
from archipel.fields import Identifier, String
from failing_shelf import domain


@domain.aggregate
class Parcel(BaseAggregate):
    label = String(required=True)


@domain.event(part_of=Parcel)
class ParcelSent(BaseEvent):
    parcel_id = Identifier(required=True)
    label = String()


@domain.command(part_of=Parcel)
class SendParcel(BaseCommand):
    label = String(required=True)


@domain.command_handler(part_of=Parcel)
class ParcelCommands:
    @handle(SendParcel)
    def send(self, command: SendParcel) -> None:
        parcel = Parcel(label=command.label)
        parcel.raise_(ParcelSent(parcel_id=parcel.id, label=parcel.label))
        current_domain.repository_for(Parcel).add(parcel)


@domain.event_handler(part_of=Parcel)
class Courier:
    @handle(ParcelSent)
    def deliver(self, event: ParcelSent) -> None:
        raise RuntimeError("the courier is on strike")
