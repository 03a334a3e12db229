"""``Recipient``: delivery's own notion of a customer (seed 000, "Correlation across contexts").

Only the fields delivery needs, under its own identity; ``customer_id`` links
back to the Accounts customer without any code dependency. Kept in sync by
an event handler listening to the ``accounts::customer`` stream category.
"""

from __future__ import annotations

from typing import Any

from archipel import BaseAggregate, current_domain, handle
from archipel.fields import Auto, Identifier, String, Text
from examples.multi_domain.delivery import delivery_domain
from examples.multi_domain.delivery.external_events import CustomerMoved, CustomerRegistered


def address_label(address: dict[str, Any] | None) -> str | None:
    """Accounts' address, in the one-line form a parcel label uses."""
    if not address:
        return None
    return f"{address['street']}, {address['postal_code']} {address['city']}, {address['country']}"


@delivery_domain.aggregate
class Recipient(BaseAggregate):
    recipient_id = Auto(identifier=True)
    customer_id = Identifier(required=True)  # correlation id
    name = String(required=True, max_length=80)
    delivery_address = Text()


@delivery_domain.event_handler(part_of=Recipient, stream_category="accounts::customer")
class RecipientDirectory:
    """Seed 000's ``CustomerSyncHandler``: state follows Accounts' events."""

    @handle(CustomerRegistered)
    def on_registered(self, event: CustomerRegistered) -> None:
        repo = current_domain.repository_for(Recipient)
        if repo.find(customer_id=event.customer_id).total:
            return  # redelivered
        repo.add(
            Recipient(
                customer_id=event.customer_id,
                name=event.name,
                delivery_address=address_label(event.address),
            )
        )

    @handle(CustomerMoved)
    def on_moved(self, event: CustomerMoved) -> None:
        repo = current_domain.repository_for(Recipient)
        for recipient in repo.find(customer_id=event.customer_id).items:
            recipient.delivery_address = address_label(event.address)
            repo.add(recipient)
