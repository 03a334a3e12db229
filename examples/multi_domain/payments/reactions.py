"""The payments context follows the sales context's orders."""

from __future__ import annotations

from archipel import current_domain, handle
from examples.multi_domain.payments import payments_domain
from examples.multi_domain.payments.external_events import OrderFailed, OrderPlaced
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
        repo = current_domain.repository_for(Payment)
        for payment in repo.find(order_id=event.order_id).items:
            payment.cancel(event.reason)
            repo.add(payment)
