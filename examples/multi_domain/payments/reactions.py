"""The payments context follows the sales context's orders."""

from __future__ import annotations

from archipel import current_domain, handle
from examples.multi_domain.payments import payments_domain
from examples.multi_domain.payments.external_events import OrderCancelled, OrderFailed, OrderPlaced
from examples.multi_domain.payments.payment import Payment


@payments_domain.event_handler(part_of=Payment, stream_category="sales::order")
class BillOrders:
    @handle(OrderPlaced)
    def on_order_placed(self, event: OrderPlaced) -> None:
        repo = current_domain.repository_for(Payment)
        if repo.find(order_id=event.order_id).total:
            return  # redelivered: the payment exists already
        currency = current_domain.config["custom"]["currency"]
        repo.add(Payment.request(event.order_id, event.customer_id, event.total_cents, currency))

    @handle(OrderFailed)
    def on_order_failed(self, event: OrderFailed) -> None:
        _cancel_payments(event.order_id, event.reason)

    @handle(OrderCancelled)
    def on_order_cancelled(self, event: OrderCancelled) -> None:
        _cancel_payments(event.order_id, event.reason)


def _cancel_payments(order_id: str, reason: str) -> None:
    """Void a pending payment, refund a captured one; a declined one stays declined."""
    repo = current_domain.repository_for(Payment)
    for payment in repo.find(order_id=order_id).items:
        payment.cancel(reason)
        repo.add(payment)
