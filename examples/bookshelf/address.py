"""``Address``: where an order is shipped."""

from __future__ import annotations

from archipel import BaseValueObject
from archipel.fields import String
from examples.bookshelf import domain


@domain.value_object
class Address(BaseValueObject):
    """A postal address.

    Only the city is required when an order is placed: whether the carrier
    can deliver to the address is the shipping context's decision
    (:attr:`is_deliverable`), taken when the shipment is arranged.
    """

    street = String(max_length=200)
    city = String(max_length=100, required=True)
    postal_code = String(max_length=12)
    country = String(max_length=2, default="US")

    @property
    def is_deliverable(self) -> bool:
        """A carrier needs a street to deliver a parcel."""
        return bool(self.street and self.street.strip())

    def one_line(self) -> str:
        parts = [self.street, self.city, self.postal_code, self.country]
        return ", ".join(part for part in parts if part)
