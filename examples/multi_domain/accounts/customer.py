"""The ``Customer`` aggregate and its ``Address`` value object."""

from __future__ import annotations

from archipel import BaseAggregate, BaseValueObject
from archipel.errors import InvalidOperation
from archipel.fields import Auto, String, ValueObject
from examples.multi_domain.accounts import accounts_domain

#: Loyalty segments, lowest first; a customer is only ever promoted.
SEGMENTS = ("standard", "silver", "gold")


def _looks_like_an_email(value: str) -> None:
    # Deliberately shallow: deliverability is checked by sending mail, not by a regex.
    local, at, host = value.partition("@")
    if not (local and at and "." in host):
        raise ValueError("is not an e-mail address")


@accounts_domain.value_object
class Address(BaseValueObject):
    """A postal address; equal to another with the same lines."""

    street = String(required=True, max_length=120)
    city = String(required=True, max_length=60)
    postal_code = String(required=True, max_length=12)
    country = String(required=True, max_length=2, min_length=2)  # ISO 3166 alpha-2

    def one_line(self) -> str:
        return f"{self.street}, {self.postal_code} {self.city}, {self.country}"


@accounts_domain.aggregate(fact_events=True)
class Customer(BaseAggregate):
    """A customer of the shop (stream category ``accounts::customer``)."""

    customer_id = Auto(identifier=True)
    name = String(required=True, max_length=80)
    email = String(required=True, max_length=254, validators=[_looks_like_an_email])
    segment = String(default="standard", choices=SEGMENTS)
    address = ValueObject(Address)

    @classmethod
    def register(cls, name: str, email: str, address: Address | None) -> Customer:
        from examples.multi_domain.accounts.events import CustomerRegistered

        customer = cls(name=name, email=email, address=address)
        customer.raise_(
            CustomerRegistered(
                customer_id=customer.customer_id, name=name, email=email, address=address
            )
        )
        return customer

    def move_to(self, address: Address) -> None:
        """Change the postal address; moving to the same address changes nothing."""
        from examples.multi_domain.accounts.events import CustomerMoved

        if address == self.address:
            return
        self.address = address
        self.raise_(CustomerMoved(customer_id=self.customer_id, address=address))

    def promote(self, segment: str) -> None:
        """Move the customer up to ``segment``; demotions are refused."""
        from examples.multi_domain.accounts.events import CustomerPromoted

        if segment not in SEGMENTS:
            raise InvalidOperation(f"unknown segment {segment!r}; use one of {', '.join(SEGMENTS)}")
        if SEGMENTS.index(segment) <= SEGMENTS.index(self.segment):
            raise InvalidOperation(f"a {self.segment} customer cannot be promoted to {segment}")
        self.segment = segment
        self.raise_(CustomerPromoted(customer_id=self.customer_id, segment=segment))
