"""W1 on protean 0.18 (PyPI) with memory adapters and sync processing."""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings


def main(n: int) -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    from protean import Domain, handle
    from protean.core.aggregate import BaseAggregate
    from protean.core.command import BaseCommand
    from protean.core.command_handler import BaseCommandHandler
    from protean.core.event import BaseEvent
    from protean.core.event_handler import BaseEventHandler
    from protean.core.projection import BaseProjection
    from protean.core.projector import BaseProjector
    from protean.fields import Identifier, Integer, String

    domain = Domain(name="Bench")
    domain.config["command_processing"] = "sync"
    domain.config["event_processing"] = "sync"

    class Account(BaseAggregate):
        owner = String(max_length=50, required=True)
        balance = Integer(default=0)

    class AccountOpened(BaseEvent):
        account_id = Identifier(required=True)
        owner = String(max_length=50)

    class OpenAccount(BaseCommand):
        owner = String(max_length=50, required=True)

    class Accounts(BaseCommandHandler):
        @handle(OpenAccount)
        def open(self, command):
            account = Account(owner=command.owner)
            account.raise_(AccountOpened(account_id=account.id, owner=account.owner))
            domain.repository_for(Account).add(account)
            return account.id

    counter = {"opened": 0}

    class Welcome(BaseEventHandler):
        @handle(AccountOpened)
        def on_opened(self, event):
            counter["opened"] += 1

    class AccountSummary(BaseProjection):
        account_id = Identifier(identifier=True)
        owner = String(max_length=50)

    class Summaries(BaseProjector):
        @handle(AccountOpened)
        def on_opened(self, event):
            domain.repository_for(AccountSummary).add(
                AccountSummary(account_id=event.account_id, owner=event.owner)
            )

    domain.register(Account)
    domain.register(AccountOpened, part_of=Account)
    domain.register(OpenAccount, part_of=Account)
    domain.register(Accounts, part_of=Account)
    domain.register(Welcome, part_of=Account)
    domain.register(AccountSummary)
    domain.register(Summaries, projector_for=AccountSummary, aggregates=[Account])
    domain.init(traverse=False)
    with domain.domain_context():
        start = time.perf_counter()
        ids = [domain.process(OpenAccount(owner=f"owner-{i}")) for i in range(n)]
        write_s = time.perf_counter() - start
        repo = domain.repository_for(Account)
        start = time.perf_counter()
        for identity in ids:
            repo.get(identity)
        read_s = time.perf_counter() - start
    print(json.dumps({"write_ops": n / write_s, "read_ops": n / read_s, "n": n}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
