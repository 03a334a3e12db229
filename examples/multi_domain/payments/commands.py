"""Use cases of the payments context."""

from __future__ import annotations

from typing import Any

from archipel import BaseCommand, current_domain, handle
from archipel.errors import ObjectNotFound
from archipel.fields import Identifier, Integer, String
from examples.multi_domain.payments import payments_domain
from examples.multi_domain.payments.payment import Payment


@payments_domain.command(part_of=Payment)
class CapturePayment(BaseCommand):
    order_id = Identifier(required=True)
    amount_cents = Integer(required=True, min_value=1)


@payments_domain.command(part_of=Payment)
class DeclinePayment(BaseCommand):
    """The payment provider's answer: the customer's bank refused the payment."""

    order_id = Identifier(required=True)
    reason = String(required=True, max_length=200)


def _payment_of(order_id: str) -> Payment:
    found = current_domain.repository_for(Payment).find(order_id=order_id)
    if not found.total:
        raise ObjectNotFound(f"no payment is due for order {order_id}")
    return found.items[0]  # type: ignore[no-any-return]


@payments_domain.command_handler(part_of=Payment)
class PaymentCommands:
    @handle(CapturePayment)
    def capture(self, command: CapturePayment) -> Any:
        payment = _payment_of(command.order_id)
        payment.capture(command.amount_cents)
        current_domain.repository_for(Payment).add(payment)
        return payment.payment_id

    @handle(DeclinePayment)
    def decline(self, command: DeclinePayment) -> Any:
        payment = _payment_of(command.order_id)
        payment.decline(command.reason)
        current_domain.repository_for(Payment).add(payment)
        return payment.payment_id
