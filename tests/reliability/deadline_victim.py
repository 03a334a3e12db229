"""A process firing process-manager deadlines, killed with SIGKILL by a test.

``python -m tests.reliability.deadline_victim <database> <action> [N]``: ``database`` is
an SQLite file path or a ``postgresql...`` URL; ``action`` is ``populate`` (one order,
``o1``), ``populate-many N`` (orders ``o1``..``oN``), ``fire-slowly`` (fire the due
deadlines, the handler hanging before its commit), ``serve`` (``archipel server``'s
engine, each handler printing ``fired <order>`` and pausing a little before its commit)
or ``drain`` (the engine in test mode: it stops once no deadline is due).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from archipel import BaseAggregate, BaseEvent, BaseProcessManager, Domain, handle
from archipel.engine import run_server
from archipel.fields import Identifier, Integer


def storage(database: str) -> dict[str, Any]:
    if database.startswith("postgresql"):
        return {"provider": "postgresql", "database_uri": database}
    return {"provider": "sqlite", "database_uri": f"sqlite:///{database}"}


def build(database: str, slow: bool = False, pause: float = 0.0) -> tuple[Domain, Any, Any, Any]:
    settings = storage(database)
    domain = Domain(
        name="DeadlineVictim",
        config={
            "databases": {"default": settings},
            "event_store": {"provider": settings["provider"]},
            "server": {"deadline_poll_seconds": 0.05},
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
            if pause:
                print(f"fired {event.order_id}", flush=True)
                time.sleep(pause)  # the kill lands before, during or after a commit

    domain.init(traverse=False)
    return domain, Order, Placed, Watch


def main(database: str, action: str, count: int = 1) -> None:
    domain, Order, Placed, _ = build(database, slow=action == "fire-slowly", pause=0.01 if action == "serve" else 0.0)
    if action == "serve":
        run_server(domain)
        return
    if action == "drain":
        sys.exit(run_server(domain, test_mode=True))
    with domain.domain_context():
        if action.startswith("populate"):
            domain.setup_database()
            for n in range(1, (count if action == "populate-many" else 1) + 1):
                order = Order(id=f"o{n}")
                order.raise_(Placed(order_id=f"o{n}"))
                domain.repository_for(Order).add(order)
        else:
            domain.fire_due_deadlines()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
