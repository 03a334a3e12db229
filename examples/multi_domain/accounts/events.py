"""Domain events of the accounts context.

Their type strings (``Accounts.CustomerRegistered.v1``...) are the contract
other contexts register their own classes under; renaming a field here is a
breaking change for them, so add a ``v2`` instead.
"""

from archipel import BaseEvent
from archipel.fields import Identifier, String, ValueObject
from examples.multi_domain.accounts import accounts_domain
from examples.multi_domain.accounts.customer import Address, Customer


@accounts_domain.event(part_of=Customer)
class CustomerRegistered(BaseEvent):
    customer_id = Identifier(required=True)
    name = String(required=True)
    email = String(required=True)
    address = ValueObject(Address)


@accounts_domain.event(part_of=Customer)
class CustomerMoved(BaseEvent):
    customer_id = Identifier(required=True)
    address = ValueObject(Address, required=True)


@accounts_domain.event(part_of=Customer)
class CustomerPromoted(BaseEvent):
    customer_id = Identifier(required=True)
    segment = String(required=True)
