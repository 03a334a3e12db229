"""W1 on eventsourcing (PyPI), the same workload with its own handler machinery.

Commands go to a leader application; an event handler and a projector are
follower ``ProcessApplication``s in a ``System`` run by the
``SingleThreadedRunner`` (eventsourcing's in-process way to react to events),
all on its in-memory (POPO) persistence.
"""

from __future__ import annotations

import json
import os
import sys
import time

from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import ProcessApplication, SingleThreadedRunner, System


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0


class Accounts(Application):
    def open(self, owner: str):
        account = Account(owner=owner)
        self.save(account)
        return account.id


class Welcome(ProcessApplication):
    opened = 0

    @singledispatchmethod
    def policy(self, domain_event, processing_event):
        """Default policy: ignore."""

    @policy.register(Account.Opened)
    def _(self, domain_event, processing_event):
        Welcome.opened += 1


class Summaries(ProcessApplication):
    summaries: dict = {}

    @singledispatchmethod
    def policy(self, domain_event, processing_event):
        """Default policy: ignore."""

    @policy.register(Account.Opened)
    def _(self, domain_event, processing_event):
        Summaries.summaries[domain_event.originator_id] = {"owner": domain_event.owner}


def main(n: int) -> None:
    os.environ["PERSISTENCE_MODULE"] = "eventsourcing.popo"
    system = System(pipes=[[Accounts, Welcome], [Accounts, Summaries]])
    runner = SingleThreadedRunner(system)
    runner.start()
    app = runner.get(Accounts)
    start = time.perf_counter()
    ids = [app.open(f"owner-{i}") for i in range(n)]
    write_s = time.perf_counter() - start
    assert Welcome.opened == n and len(Summaries.summaries) == n, (Welcome.opened, len(Summaries.summaries))
    start = time.perf_counter()
    for identity in ids:
        app.repository.get(identity)
    read_s = time.perf_counter() - start
    runner.stop()
    print(json.dumps({"write_ops": n / write_s, "read_ops": n / read_s, "n": n}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
