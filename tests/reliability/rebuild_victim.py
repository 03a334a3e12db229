"""A process that rebuilds a projection slowly, to be killed with SIGKILL by a test.

``python -m tests.reliability.rebuild_victim <sqlite path> <events> <populate|rebuild>``
"""

from __future__ import annotations

import sys
import time
from typing import Any

from archipel import BaseAggregate, BaseEvent, BaseProjection, Domain, current_domain, handle
from archipel.fields import Identifier, Integer


def build(path: str, delay: float = 0.0) -> tuple[Domain, Any, Any, Any]:
    domain = Domain(
        name="Victim",
        config={
            "databases": {"default": {"provider": "sqlite", "database_uri": f"sqlite:///{path}"}},
            "event_store": {"provider": "sqlite"},
        },
    )

    @domain.aggregate
    class Counter(BaseAggregate):
        group = Integer()

    @domain.event(part_of=Counter)
    class Counted(BaseEvent):
        group = Integer()

    @domain.projection
    class Totals(BaseProjection):
        group_id = Identifier(identifier=True)
        count = Integer(default=0)

    @domain.projector(projector_for=Totals, aggregates=[Counter])
    class TotalsProjector:
        @handle(Counted)
        def on(self, event: Counted) -> None:
            if delay:
                time.sleep(delay)
            repo = current_domain.repository_for(Totals)
            key = str(event.group)
            row = repo.get_or_none(key) or Totals(group_id=key)
            row.count += 1
            repo.add(row)

    domain.init(traverse=False)
    return domain, Counter, Counted, Totals


def main(path: str, events: int, action: str) -> None:
    domain, Counter, Counted, Totals = build(path, delay=0.002 if action == "rebuild" else 0.0)
    with domain.domain_context():
        if action == "populate":
            domain.setup_database()
            stored = []
            for i in range(events):
                counter = Counter(group=i % 7)
                counter.raise_(Counted(group=i % 7))
                stored.extend(counter._events)
            domain.event_store.append(stored)
        else:
            print("rebuilding", flush=True)
            domain.rebuild_projection(Totals, batch_size=50)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
