"""Use cases of the payments context."""

from __future__ import annotations

from typing import Any

from archipel import BaseCommand, current_domain, handle
from archipel.errors import ObjectNotFound
from archipel.fields import Identifier, Integer
from examples.multi_domain.payments import payments_domain
from examples.multi_domain.payments.payment import Payment


@payments_domain.command(part_of=Payment)
class CapturePayment(BaseCommand):
    order_id = Identifier(required=True)
    amount_cents = Integer(required=True, min_value=1)


@payments_domain.command_handler(part_of=Payment)
class PaymentCommands:
    @handle(CapturePayment)
    def capture(self, command: CapturePayment) -> Any:
        repo = current_domain.repository_for(Payment)
        found = repo.find(order_id=command.order_id)
        if not found.total:
            raise ObjectNotFound(f"no payment is due for order {command.order_id}")
        payment = found.items[0]
        payment.capture(command.amount_cents)
        repo.add(payment)
        return payment.payment_id
