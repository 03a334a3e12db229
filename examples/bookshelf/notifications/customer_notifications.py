"""``CustomerNotifications``: e-mails customers when their order moves on.

A stand-in for a real mail gateway: instead of talking SMTP it records each
message in the ``SentEmail`` projection, in the same transaction as the
handler's unit of work, so tests and the story can show what was sent.
"""

from __future__ import annotations

from typing import Any

from archipel import BaseEventHandler, current_domain, handle
from examples.bookshelf import domain
from examples.bookshelf.notifications.sent_email import SentEmail
from examples.bookshelf.ordering.events import OrderCancelled, OrderConfirmed, OrderShipped
from examples.bookshelf.ordering.order import Order


@domain.event_handler(part_of=Order)
class CustomerNotifications(BaseEventHandler):
    @handle(OrderConfirmed)
    def order_confirmed(self, event: OrderConfirmed) -> None:
        titles = ", ".join(f"{line.quantity} x {line.title}" for line in event.lines)
        self._send(
            event,
            subject="We have your order",
            body=f"Hello {event.customer_name}, we are preparing {titles} ({event.total}).",
        )

    @handle(OrderShipped)
    def order_shipped(self, event: OrderShipped) -> None:
        self._send(
            event,
            subject=f"Your books are on their way ({event.tracking_number})",
            body=f"Hello {event.customer_name}, track your parcel with {event.tracking_number}.",
        )

    @handle(OrderCancelled)
    def order_cancelled(self, event: OrderCancelled) -> None:
        self._send(
            event,
            subject="Your order was cancelled",
            body=f"Hello {event.customer_name}, we are sorry: {event.reason}. You were not charged.",
        )

    @staticmethod
    def _send(event: Any, *, subject: str, body: str) -> None:
        emails = current_domain.repository_for(SentEmail)
        email_id = event.metadata.id
        if emails.get_or_none(email_id) is not None:
            return  # already sent for this event
        emails.add(
            SentEmail(
                email_id=email_id,
                order_id=event.order_id,
                recipient=event.customer_email,
                subject=subject,
                body=body,
                sent_at=event.metadata.time,
            )
        )
