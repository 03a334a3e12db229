"""``Money``: an exact amount in one currency."""

from __future__ import annotations

from decimal import Decimal as D

from archipel import BaseValueObject, invariant
from archipel.errors import ValidationError
from archipel.fields import Decimal, String
from examples.bookshelf import domain

_CENT = D("0.01")


@domain.value_object
class Money(BaseValueObject):
    """An amount of money: ``Decimal`` (never float: prices must add up exactly).

    Immutable, equal by value: ``Money(amount="9.99") == Money(amount=D("9.99"), currency="USD")``.
    Arithmetic returns new values and refuses to mix currencies.
    """

    amount = Decimal(required=True, min_value=0, decimal_places=2)
    currency = String(max_length=3, default="USD")

    @invariant.post
    def currency_is_an_iso_code(self) -> None:
        if not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            raise ValidationError(
                {"currency": [f"{self.currency!r} is not an ISO 4217 code such as 'USD' or 'EUR'"]}
            )

    @classmethod
    def zero(cls, currency: str = "USD") -> Money:
        return cls(amount=D("0.00"), currency=currency)

    def plus(self, other: Money) -> Money:
        """The sum of two amounts in the same currency."""
        if other.currency != self.currency:
            raise ValidationError(
                {"currency": [f"cannot add {other.currency} to {self.currency}"]}
            )
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def times(self, quantity: int) -> Money:
        """This amount ``quantity`` times (a line's subtotal)."""
        return Money(amount=(self.amount * quantity).quantize(_CENT), currency=self.currency)

    def __str__(self) -> str:
        amount = self.amount.quantize(_CENT)
        return f"${amount}" if self.currency == "USD" else f"{amount} {self.currency}"
