"""W1 on eventsourcing (PyPI) with its in-memory persistence.

Each command creates an aggregate that records one event, saved by the
application; the event handler and the projector are plain calls on the
saved events (eventsourcing has no in-process handler dispatch of its own
outside its system runners, which are slower) — generous to the peer.
"""

from __future__ import annotations

import json
import os
import sys
import time

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0


class Accounts(Application):
    def open(self, owner: str):
        account = Account(owner=owner)
        self.save(account)
        return account


def main(n: int, traced: bool = False) -> None:
    """``traced``: measure the write's heap growth with tracemalloc (slower: not a timing run)."""
    from _harness import MemoryGrowth, Timed

    os.environ.setdefault("PERSISTENCE_MODULE", "eventsourcing.popo")
    app = Accounts()
    summaries: dict = {}
    counter = {"opened": 0}
    for i in range(100):  # warm up, as the archipel workload does
        app.open(f"warm-{i}")
    ids = []
    with MemoryGrowth(traced, top=25) as memory:
        with Timed() as write:
            for i in range(n):
                account = app.open(f"owner-{i}")
                counter["opened"] += 1  # the event handler
                summaries[account.id] = {"owner": account.owner}  # the projector
                ids.append(account.id)
        write_s = write.wall
    start = time.perf_counter()
    for identity in ids:
        app.repository.get(identity)
    read_s = time.perf_counter() - start
    print(json.dumps({"write_ops": n / write_s, "read_ops": n / read_s, "n": n, **write.report(n), **memory.report()}))


if __name__ == "__main__":
    main(int(sys.argv[1]), traced="--memory" in sys.argv[2:])
