"""``CustomerCard``: a local copy of the Accounts customer, from fact events.

Accounts' ``Customer`` has ``fact_events=True``: every change publishes the
customer's complete state. The projector does not care *what* changed; it
overwrites every field, so the copy can never drift by a missed delta.
"""

from __future__ import annotations

from archipel import BaseProjection, current_domain, handle
from archipel.fields import Identifier, String, Text
from examples.multi_domain.delivery import delivery_domain
from examples.multi_domain.delivery.external_events import CustomerFact
from examples.multi_domain.delivery.recipients import address_label


@delivery_domain.projection
class CustomerCard(BaseProjection):
    customer_id = Identifier(identifier=True)
    name = String()
    email = String()
    segment = String()
    address = Text()


@delivery_domain.projector(projector_for=CustomerCard, stream_categories=["accounts::customer"])
class CustomerCardProjector:
    @handle(CustomerFact)
    def on_customer_fact(self, fact: CustomerFact) -> None:
        repo = current_domain.repository_for(CustomerCard)
        card = repo.get_or_none(fact.customer_id) or CustomerCard(customer_id=fact.customer_id)
        card.name = fact.name
        card.email = fact.email
        card.segment = fact.segment
        card.address = address_label(fact.address)
        repo.add(card)
