"""Loading an event-sourced aggregate with 1,000 events: archipel vs eventsourcing, with snapshots.

One aggregate records 1,000 deposits; then it is loaded by id many times and
the median load time is reported. Contenders:

- ``archipel``: snapshot taken after the 1,000th event (``domain.create_snapshot``),
  so a load reads the snapshot and no event (as automatic snapshots at
  ``snapshot_threshold`` leave it, give or take < threshold events);
- ``archipel-full``: the same aggregate with snapshots off (a full replay);
- ``es``: ``eventsourcing`` with ``app.take_snapshot(id)`` after the 1,000th event;
- ``es-full``: eventsourcing without snapshots.

On the memory stores (``eventsourcing.popo``) and PostgreSQL (a throwaway
server, ``tests/_servers.py``); SQLite for information. Each workload runs in a
fresh interpreter; rounds alternate contenders; medians are reported.

    python bench/snapshots.py              # 3 rounds
    python bench/snapshots.py --rounds 1

Target (issue 15): archipel with a snapshot <= 1x eventsourcing with a snapshot,
memory and PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "src")]

from _harness import ratio, run_workload  # noqa: E402

EVENTS = 1000
LOADS = 300


def _median_ms(load: Callable[[], object], loads: int = LOADS) -> float:
    for _ in range(20):
        load()  # warm up
    times = []
    for _ in range(loads):
        start = time.perf_counter()
        load()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def archipel(uri: str, snapshot: bool) -> dict[str, float]:
    from archipel import BaseAggregate, BaseEvent, Domain, apply
    from archipel.fields import Identifier, Integer, String

    if uri == "memory":
        storage: dict[str, object] = {
            "databases": {"default": {"provider": "memory"}},
            "event_store": {"provider": "memory"},
        }
    else:
        provider = "postgresql" if uri.startswith("postgresql") else "sqlite"
        storage = {
            "databases": {"default": {"provider": provider, "database_uri": uri}},
            "event_store": {"provider": provider},
            # no access events (Protean's wide events) nor slow-query timing: bench/README.md
            "logging": {"per_logger": {"archipel.access": "WARNING", "archipel.adapters.repository.sqlalchemy.slow_query": "ERROR"}},
        }
    domain = Domain(name="Bench", config={**storage, "snapshot_threshold": 0})

    @domain.aggregate(is_event_sourced=True)
    class Account(BaseAggregate):
        owner = String()
        balance = Integer(default=0)

        @apply
        def opened(self, event: Opened) -> None:
            self.owner = event.owner

        @apply
        def deposited(self, event: Deposited) -> None:
            self.balance += event.amount

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()
        owner = String()

    @domain.event(part_of=Account)
    class Deposited(BaseEvent):
        amount = Integer()

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        repo = domain.repository_for(Account)
        account = Account(owner="ann")
        account.raise_(Opened(account_id=account.id, owner="ann"))
        for _ in range(EVENTS - 1):
            account.raise_(Deposited(amount=1))
        repo.add(account)
        if snapshot:
            domain.create_snapshot(Account, account.id)
        identity = account.id
        loaded = repo.get(identity)
        assert loaded.balance == EVENTS - 1 and loaded._version == EVENTS - 1
        return {"ms": _median_ms(lambda: repo.get(identity))}


def _es_environment(uri: str) -> None:
    if uri == "memory":
        os.environ["PERSISTENCE_MODULE"] = "eventsourcing.popo"
    elif uri.startswith("postgresql"):
        from sqlalchemy import make_url

        url = make_url(uri)
        os.environ.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=str(url.database),
            POSTGRES_HOST=str(url.host),
            POSTGRES_PORT=str(url.port),
            POSTGRES_USER=str(url.username),
            POSTGRES_PASSWORD=url.password or "trust",
        )
    else:
        os.environ.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=uri.split("///", 1)[1]
        )


def eventsourcing(uri: str, snapshot: bool) -> dict[str, float]:
    _es_environment(uri)
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Account(Aggregate):
        @event("Opened")
        def __init__(self, owner: str) -> None:
            self.owner = owner
            self.balance = 0

        @event("Deposited")
        def deposit(self, amount: int) -> None:
            self.balance += amount

    class Accounts(Application[uuid.UUID]):
        is_snapshotting_enabled = True

    app = Accounts()
    account = Account(owner="ann")
    for _ in range(EVENTS - 1):
        account.deposit(1)
    app.save(account)
    if snapshot:
        app.take_snapshot(account.id)
    loaded = app.repository.get(account.id)
    assert loaded.balance == EVENTS - 1
    # ``get`` reads the latest snapshot first when snapshotting is enabled
    return {"ms": _median_ms(lambda: app.repository.get(account.id))}


WORKLOADS: dict[str, Callable[[str], dict[str, float]]] = {
    "archipel": lambda uri: archipel(uri, True),
    "archipel-full": lambda uri: archipel(uri, False),
    "es": lambda uri: eventsourcing(uri, True),
    "es-full": lambda uri: eventsourcing(uri, False),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        print(json.dumps(WORKLOADS[args.workload](args.uri)))
        return 0

    from tests._servers import PostgresServer

    server = PostgresServer.launch()
    scratch = Path(tempfile.mkdtemp(prefix="archipel-bench-"))
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for round_no in range(args.rounds):
            for store in ("memory", "postgresql", "sqlite"):
                for name in WORKLOADS:
                    print(f"  round {round_no + 1}/{args.rounds}: {store} {name} ...", file=sys.stderr, flush=True)
                    if store == "memory":
                        uri = "memory"
                        result = run_workload("snapshots.py", "--workload", name, "--uri", uri)
                    elif store == "sqlite":
                        uri = f"sqlite:///{scratch / f'{name}-{uuid.uuid4().hex[:8]}.db'}"
                        result = run_workload("snapshots.py", "--workload", name, "--uri", uri)
                    else:
                        database = server.create_database(prefix="bench")
                        try:
                            result = run_workload(
                                "snapshots.py", "--workload", name, "--uri", server.url(database)
                            )
                        finally:
                            server.drop_database(database)
                    results.setdefault((store, name), []).append(result["ms"])
    finally:
        server.destroy()
        shutil.rmtree(scratch, ignore_errors=True)

    def med(store: str, name: str) -> float:
        return statistics.median(results[(store, name)])

    print(f"\nLoad of an event-sourced aggregate with {EVENTS} events (median ms of {LOADS} loads, "
          f"median of {args.rounds} runs)")
    print(f"  {'store':<11}{'archipel+snap':>14}{'es+snap':>10}{'ratio':>8}   "
          f"{'archipel full':>14}{'es full':>10}{'ratio':>8}")
    for store in ("memory", "postgresql", "sqlite"):
        a, e = med(store, "archipel"), med(store, "es")
        af, ef = med(store, "archipel-full"), med(store, "es-full")
        print(f"  {store:<11}{a:>14.3f}{e:>10.3f}{ratio(a, e):>8}   {af:>14.3f}{ef:>10.3f}{ratio(af, ef):>8}")
    print("  target: archipel with a snapshot <= 1x eventsourcing with a snapshot (memory, PostgreSQL)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
