"""The ``Payment`` aggregate and its events."""

from __future__ import annotations

from archipel import BaseAggregate, BaseEvent
from archipel.errors import InvalidOperation
from archipel.fields import Auto, Identifier, Integer, String
from examples.multi_domain.payments import payments_domain

#: pending -> captured [-> refunded], pending -> voided, or pending -> declined
PAYMENT_STATUSES = ("pending", "captured", "voided", "refunded", "declined")


@payments_domain.aggregate
class Payment(BaseAggregate):
    """What one order owes (stream category ``payments::payment``)."""

    payment_id = Auto(identifier=True)
    order_id = Identifier(required=True)  # correlation id: the Sales order
    customer_id = Identifier(required=True)
    amount_due_cents = Integer(required=True, min_value=0)
    amount_paid_cents = Integer(default=0, min_value=0)
    currency = String(required=True, max_length=3)
    status = String(default="pending", choices=PAYMENT_STATUSES)

    @classmethod
    def request(cls, order_id: str, customer_id: str, amount_cents: int, currency: str) -> Payment:
        payment = cls(
            order_id=order_id, customer_id=customer_id, amount_due_cents=amount_cents, currency=currency
        )
        payment.raise_(
            PaymentRequested(
                payment_id=payment.payment_id, order_id=order_id, amount_cents=amount_cents, currency=currency
            )
        )
        return payment

    def capture(self, amount_cents: int) -> None:
        if self.status != "pending":
            raise InvalidOperation(f"the payment of order {self.order_id} is {self.status}")
        if amount_cents != self.amount_due_cents:
            raise InvalidOperation(
                f"order {self.order_id} owes {self.amount_due_cents} cents, not {amount_cents}"
            )
        self.amount_paid_cents = amount_cents
        self.status = "captured"
        self.raise_(
            PaymentCaptured(
                payment_id=self.payment_id,
                order_id=self.order_id,
                amount_cents=amount_cents,
                currency=self.currency,
            )
        )

    def decline(self, reason: str) -> None:
        """The customer's bank refused the payment; only a pending payment can be declined."""
        if self.status != "pending":
            raise InvalidOperation(f"the payment of order {self.order_id} is {self.status}")
        self.status = "declined"
        self.raise_(PaymentDeclined(payment_id=self.payment_id, order_id=self.order_id, reason=reason))

    def cancel(self, reason: str) -> None:
        """The order will not be served: void what is pending, refund what was paid."""
        if self.status == "pending":
            self.status = "voided"
            self.raise_(PaymentVoided(payment_id=self.payment_id, order_id=self.order_id, reason=reason))
        elif self.status == "captured":
            self.status = "refunded"
            self.raise_(
                PaymentRefunded(
                    payment_id=self.payment_id,
                    order_id=self.order_id,
                    amount_cents=self.amount_paid_cents,
                    reason=reason,
                )
            )
        # voided, refunded or declined already: a redelivered event changes nothing


@payments_domain.event(part_of=Payment)
class PaymentRequested(BaseEvent):
    payment_id = Identifier(required=True)
    order_id = Identifier(required=True)
    amount_cents = Integer(required=True)
    currency = String(required=True)


@payments_domain.event(part_of=Payment)
class PaymentCaptured(BaseEvent):
    payment_id = Identifier(required=True)
    order_id = Identifier(required=True)
    amount_cents = Integer(required=True)
    currency = String(required=True)


@payments_domain.event(part_of=Payment)
class PaymentDeclined(BaseEvent):
    payment_id = Identifier(required=True)
    order_id = Identifier(required=True)
    reason = String(required=True)


@payments_domain.event(part_of=Payment)
class PaymentVoided(BaseEvent):
    payment_id = Identifier(required=True)
    order_id = Identifier(required=True)
    reason = String(required=True)


@payments_domain.event(part_of=Payment)
class PaymentRefunded(BaseEvent):
    payment_id = Identifier(required=True)
    order_id = Identifier(required=True)
    amount_cents = Integer(required=True)
    reason = String(required=True)
