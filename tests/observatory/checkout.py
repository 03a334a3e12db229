"""A checkout process manager with deadlines in every state, for the status views.

``build(name, config)`` defines the domain; ``populate(domain)`` places five
orders whose ``PaymentOverdue`` deadlines end up: one fired, one cancelled (the
order was paid), one failed (its handler raises every time), two pending (due
in 30 and 60 minutes). It returns the two pending orders, earliest first.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from archipel import BaseAggregate, BaseEvent, BaseProcessManager, Domain, handle
from archipel.fields import Boolean, Identifier, Integer, String
from archipel.handling.deadlines import MAX_ATTEMPTS

__all__ = ["build", "populate"]


def build(name: str, config: dict[str, Any]) -> Domain:
    domain = Domain(name=name, config=config)

    @domain.aggregate
    class Order(BaseAggregate):
        status = String(default="new")

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()
        minutes = Integer()
        poisoned = Boolean(default=False)

    @domain.event(part_of=Order)
    class Paid(BaseEvent):
        order_id = Identifier()

    @domain.event(part_of=Order)
    class PaymentOverdue(BaseEvent):
        order_id = Identifier()

    @domain.process_manager(aggregates=[Order])
    class Checkout(BaseProcessManager):
        order_id = Identifier()
        poisoned = Boolean(default=False)
        status = String(default="new")

        @handle(Placed, start=True, correlate="order_id")
        def placed(self, event: Placed) -> None:
            self.order_id, self.poisoned = event.order_id, event.poisoned
            self.schedule(PaymentOverdue(order_id=event.order_id), after=dt.timedelta(minutes=event.minutes))

        @handle(Paid, correlate="order_id", end=True)
        def paid(self, event: Paid) -> None:
            self.cancel_deadlines()
            self.status = "paid"

        @handle(PaymentOverdue, correlate="order_id", end=True)
        def overdue(self, event: PaymentOverdue) -> None:
            if self.poisoned:
                raise RuntimeError("the mail server is down")
            self.status = "cancelled"

    domain.init(traverse=False)
    return domain


def populate(domain: Domain) -> list[str]:
    """The five orders (see the module docstring); run inside the domain's context."""
    order_cls = domain.registry.by_name["Order"]
    placed, paid = domain.registry.by_name["Placed"], domain.registry.by_name["Paid"]

    def place(minutes: int, poisoned: bool = False) -> str:
        order = order_cls()
        order.raise_(placed(order_id=order.id, minutes=minutes, poisoned=poisoned))
        domain.repository_for(order_cls).add(order)
        return str(order.id)

    place(1)  # fires below
    place(1, poisoned=True)  # fails MAX_ATTEMPTS times, then is marked failed
    paid_id = place(15)
    order = domain.repository_for(order_cls).get(paid_id)
    order.raise_(paid(order_id=paid_id))
    domain.repository_for(order_cls).add(order)
    pending = [place(30), place(60)]
    two_minutes_later = time.time() + 120
    for _ in range(MAX_ATTEMPTS):
        domain.fire_due_deadlines(now=two_minutes_later)
    return pending
