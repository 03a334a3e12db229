"""A process firing a process-manager deadline, killed with SIGKILL by a test.

``python -m tests.reliability.deadline_victim <sqlite path> <populate|fire-slowly>``
"""

from __future__ import annotations

import sys
import time
from typing import Any

from archipel import BaseAggregate, BaseEvent, BaseProcessManager, Domain, handle
from archipel.fields import Identifier, Integer


def build(path: str, slow: bool = False) -> tuple[Domain, Any, Any, Any]:
    domain = Domain(
        name="DeadlineVictim",
        config={
            "databases": {"default": {"provider": "sqlite", "database_uri": f"sqlite:///{path}"}},
            "event_store": {"provider": "sqlite"},
        },
    )

    @domain.aggregate
    class Order(BaseAggregate):
        total = Integer(default=0)

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()

    @domain.event(part_of=Order)
    class Overdue(BaseEvent):
        order_id = Identifier()

    @domain.process_manager(aggregates=[Order])
    class Watch(BaseProcessManager):
        order_id = Identifier()
        fired = Integer(default=0)

        @handle(Placed, start=True, correlate="order_id")
        def placed(self, event: Placed) -> None:
            self.order_id = event.order_id
            self.schedule(Overdue(order_id=event.order_id), after=0)

        @handle(Overdue, correlate="order_id")
        def overdue(self, event: Overdue) -> None:
            self.fired += 1
            if slow:
                print("firing", flush=True)
                time.sleep(60)  # killed here, before the commit

    domain.init(traverse=False)
    return domain, Order, Placed, Watch


def main(path: str, action: str) -> None:
    domain, Order, Placed, _ = build(path, slow=action == "fire-slowly")
    with domain.domain_context():
        if action == "populate":
            domain.setup_database()
            order = Order(id="o1")
            order.raise_(Placed(order_id="o1"))
            domain.repository_for(Order).add(order)
        else:
            domain.fire_due_deadlines()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
