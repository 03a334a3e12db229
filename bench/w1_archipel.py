"""W1 on archipel, in memory: N commands (aggregate + 1 event -> 1 handler + 1 projector), N loads."""

from __future__ import annotations

import json
import sys
import time

from archipel import BaseAggregate, BaseCommand, BaseEvent, BaseProjection, Domain, handle
from archipel.fields import Identifier, Integer, String

#: eventsourcing logs nothing per command: archipel's access events (Protean's wide events,
#: INFO on archipel.access) and slow-query timing off (bench/README.md)
QUIET_LOGGING = {
    "per_logger": {"archipel.access": "WARNING", "archipel.adapters.repository.sqlalchemy.slow_query": "ERROR"}
}


def build(
    provider_config: dict | None = None, inline_projector: bool = False, projector: bool = True
) -> tuple[Domain, type, type]:
    """The W1 domain; ``inline_projector`` commits the projection with the command.

    ``projector=False`` leaves the projector out (the command's commit alone).
    """
    config = {"command_processing": "sync", "event_processing": "sync", "logging": QUIET_LOGGING}
    config.update(provider_config or {})
    domain = Domain(name="Bench", config=config)

    @domain.aggregate
    class Account(BaseAggregate):
        owner = String(max_length=50, required=True)
        balance = Integer(default=0)

    @domain.event(part_of=Account)
    class AccountOpened(BaseEvent):
        account_id = Identifier(required=True)
        owner = String(max_length=50)

    @domain.command(part_of=Account)
    class OpenAccount(BaseCommand):
        owner = String(max_length=50, required=True)

    @domain.command_handler(part_of=Account)
    class Accounts:
        @handle(OpenAccount)
        def open(self, command: OpenAccount) -> str:
            account = Account(owner=command.owner)
            account.raise_(AccountOpened(account_id=account.id, owner=account.owner))
            domain.repository_for(Account).add(account)
            return account.id

    counter = {"opened": 0}

    @domain.event_handler(part_of=Account)
    class Welcome:
        @handle(AccountOpened)
        def on_opened(self, event: AccountOpened) -> None:
            counter["opened"] += 1

    @domain.projection
    class AccountSummary(BaseProjection):
        account_id = Identifier(identifier=True)
        owner = String(max_length=50)

    if not projector:
        domain.init(traverse=False)
        return domain, Account, OpenAccount

    @domain.projector(projector_for=AccountSummary, aggregates=[Account], inline=inline_projector)
    class Summaries:
        @handle(AccountOpened)
        def on_opened(self, event: AccountOpened) -> None:
            domain.repository_for(AccountSummary).add(
                AccountSummary(account_id=event.account_id, owner=event.owner)
            )

    domain.init(traverse=False)
    return domain, Account, OpenAccount


def main(n: int, inline_projector: bool = False, traced: bool = False) -> None:
    """``traced``: measure the write's heap growth with tracemalloc (slower: not a timing run)."""
    from _harness import MemoryGrowth, Timed, profiled

    domain, Account, OpenAccount = build(inline_projector=inline_projector)
    with domain.domain_context():
        domain.setup_database()
        process = domain.process
        for i in range(100):  # warm up: first-use caches are not growth per aggregate
            process(OpenAccount(owner=f"warm-{i}"))
        with profiled(f"memory-write-{n}"), MemoryGrowth(traced, top=25) as memory:
            with Timed() as write:
                ids = [process(OpenAccount(owner=f"owner-{i}")) for i in range(n)]
            write_s = write.wall
        repo = domain.repository_for(Account)
        with profiled(f"memory-read-{n}"):
            start = time.perf_counter()
            for identity in ids:
                repo.get(identity)
            read_s = time.perf_counter() - start
    print(json.dumps({"write_ops": n / write_s, "read_ops": n / read_s, "n": n, **write.report(n), **memory.report()}))


if __name__ == "__main__":
    main(int(sys.argv[1]), inline_projector="--inline" in sys.argv[2:], traced="--memory" in sys.argv[2:])
