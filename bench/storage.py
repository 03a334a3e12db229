"""Storage benchmark (W1 on real databases): archipel vs eventsourcing vs protean vs the raw limit.

W1 (as in ``bench/core.py``): N commands, each creating an aggregate that raises
one event handled by one event handler and one projector; then N loads by id.

PostgreSQL, on a throwaway server started here (``tests/_servers.py``) with
PostgreSQL's default durability (``fsync`` and ``synchronous_commit`` on):

- ``raw``: the limit, psycopg 3, one single-row ``INSERT`` per transaction
  (``BEGIN``, ``INSERT``, ``COMMIT``); reads are ``SELECT`` by primary key.
- ``archipel``: ``provider = "postgresql"`` for the database and the event store.
  Per command: one transaction for the aggregate row + command + event (one
  statement), one for the projector's row.
- ``es``: ``eventsourcing`` 9.5.6 on ``eventsourcing.postgres``, the same workload
  with its own machinery (a ``System``: the leader application plus two follower
  process applications for the handler and the projector, which record their
  tracking positions durably, under the ``SingleThreadedRunner``).
- ``es-save``: eventsourcing saving the aggregate only (handler and projector are
  plain in-memory calls): its floor, less work than W1 asks.
- ``protean``: ``protean`` 0.18 with its ``postgresql`` provider (at a smaller N:
  it runs at tens of commands per second).

SQLite (a file in a temporary directory, WAL): ``raw-sqlite``, ``es-sqlite`` and
``es-save-sqlite`` with ``synchronous = FULL`` (eventsourcing's setting: an fsync
per commit); ``archipel-sqlite`` with archipel's default ``NORMAL`` (durable
against the crash of any process, see ``archipel.adapters.sql.engine``) and
``archipel-sqlite-full`` with ``FULL``, the like-for-like figure.

Each workload runs in a fresh interpreter on a fresh database; contenders
alternate within each round so that machine noise hits all alike; medians
are reported. Every workload warms up with a few commands first.

    python bench/storage.py                 # N = 2000, 3 rounds
    python bench/storage.py --quick         # N = 500, 1 round
    python bench/storage.py --n 5000 --rounds 5 --no-protean

Targets (issue 3): archipel writes >= 60 % of the raw single-row commit rate and
>= 5x eventsourcing; reads >= 5 k/s; SQLite writes >= 3x eventsourcing's SQLite.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "src")]

from _harness import ratio, run_workload  # noqa: E402

WARMUP = 50
Result = dict[str, float]


def timed(writes: Callable[[int], object], reads: Callable[[object], object], n: int) -> Result:
    """Run ``writes(i)`` n times (after a warm-up), then ``reads`` on what they returned."""
    for i in range(WARMUP):
        writes(-1 - i)
    started = time.perf_counter()
    made = [writes(i) for i in range(n)]
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    for item in made:
        reads(item)
    read_s = time.perf_counter() - started
    return {"write_ops": n / write_s, "read_ops": n / read_s, "n": n}


# --------------------------------------------------------------------------- workloads


def raw_pg(n: int, uri: str, libpq: str) -> Result:
    import psycopg

    conn = psycopg.connect(libpq)
    conn.execute(
        "CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance bigint, _version int)"
    )
    conn.commit()

    def write(i: int) -> str:
        identity = str(uuid.uuid4())
        conn.execute("INSERT INTO raw_w1 VALUES (%s, %s, %s, %s)", (identity, f"owner-{i}", 0, 0))
        conn.commit()
        return identity

    reader = psycopg.connect(libpq, autocommit=True)  # a read is one statement, no transaction

    def read(identity: object) -> None:
        reader.execute(
            "SELECT id, owner, balance, _version FROM raw_w1 WHERE id = %s", (identity,)
        ).fetchone()

    return timed(write, read, n)


def raw_sqlite(n: int, path: str) -> Result:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance integer, _version int)"
    )

    def write(i: int) -> str:
        identity = str(uuid.uuid4())
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO raw_w1 VALUES (?, ?, ?, ?)", (identity, f"owner-{i}", 0, 0))
        conn.execute("COMMIT")
        return identity

    def read(identity: object) -> None:
        conn.execute(
            "SELECT id, owner, balance, _version FROM raw_w1 WHERE id = ?", (identity,)
        ).fetchone()

    return timed(write, read, n)


def archipel(n: int, uri: str, inline: bool = False, **settings: str) -> Result:
    from w1_archipel import build

    provider = "postgresql" if uri.startswith("postgresql") else "sqlite"
    database = {"provider": provider, "database_uri": uri, **settings}
    domain, account_cls, open_account = build(
        {"databases": {"default": database}, "event_store": {"provider": provider}},
        inline_projector=inline,
    )
    with domain.domain_context():
        domain.setup_database()
        process = domain.process
        repo = domain.repository_for(account_cls)
        result = timed(lambda i: process(open_account(owner=f"owner-{i}")), repo.get, n)
    domain.shutdown()
    return result


def _es_environment(uri: str) -> None:
    if uri.startswith("postgresql"):
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


def es_system(n: int, uri: str) -> Result:
    _es_environment(uri)
    from eventsourcing.system import SingleThreadedRunner, System
    from w1_eventsourcing_system import Accounts, Summaries, Welcome

    runner = SingleThreadedRunner(System(pipes=[[Accounts, Welcome], [Accounts, Summaries]]))
    runner.start()
    app = runner.get(Accounts)
    result = timed(lambda i: app.open(f"owner-{i}"), app.repository.get, n)
    assert Welcome.opened == n + WARMUP, Welcome.opened
    runner.stop()
    return result


def es_save(n: int, uri: str) -> Result:
    _es_environment(uri)
    from w1_eventsourcing import Accounts

    app = Accounts()
    summaries: dict[object, dict[str, str]] = {}
    counter = {"opened": 0}

    def write(i: int) -> object:
        account = app.open(f"owner-{i}")
        counter["opened"] += 1  # the event handler
        summaries[account.id] = {"owner": account.owner}  # the projector (in memory!)
        return account.id

    return timed(write, app.repository.get, n)


def protean_pg(n: int, uri: str) -> Result:
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
    domain.config["databases"]["default"] = {"provider": "postgresql", "database_uri": uri}

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
        def open(self, command):  # type: ignore[no-untyped-def]
            account = Account(owner=command.owner)
            account.raise_(AccountOpened(account_id=account.id, owner=account.owner))
            domain.repository_for(Account).add(account)
            return account.id

    class Welcome(BaseEventHandler):
        @handle(AccountOpened)
        def on_opened(self, event):  # type: ignore[no-untyped-def]
            pass

    class AccountSummary(BaseProjection):
        account_id = Identifier(identifier=True)
        owner = String(max_length=50)

    class Summaries(BaseProjector):
        @handle(AccountOpened)
        def on_opened(self, event):  # type: ignore[no-untyped-def]
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
        domain.setup_database()
        repo = domain.repository_for(Account)
        return timed(lambda i: domain.process(OpenAccount(owner=f"owner-{i}")), repo.get, n)


WORKLOADS: dict[str, Callable[..., Result]] = {
    "raw": raw_pg,
    "archipel": archipel,
    "archipel-inline": lambda n, uri: archipel(n, uri, inline=True),
    "es": es_system,
    "es-save": es_save,
    "protean": protean_pg,
    "raw-sqlite": raw_sqlite,
    "archipel-sqlite": archipel,
    "archipel-sqlite-full": lambda n, uri: archipel(n, uri, synchronous="FULL"),
    "archipel-sqlite-inline": lambda n, uri: archipel(n, uri, inline=True),
    "es-sqlite": es_system,
    "es-save-sqlite": es_save,
}
PG_CONTENDERS = ("raw", "archipel", "archipel-inline", "es", "es-save")
SQLITE_CONTENDERS = (
    "raw-sqlite",
    "archipel-sqlite",
    "archipel-sqlite-inline",
    "archipel-sqlite-full",
    "es-sqlite",
    "es-save-sqlite",
)


def run_one(args: argparse.Namespace) -> None:
    """The child side: run one workload and print its JSON result."""
    name = args.workload
    if name == "raw":
        result = raw_pg(args.n, args.uri, args.libpq)
    elif name == "raw-sqlite":
        result = raw_sqlite(args.n, args.uri.split("///", 1)[1])
    else:
        result = WORKLOADS[name](args.n, args.uri)
    print(json.dumps(result))


# --------------------------------------------------------------------------- orchestration


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=None, help="commands per run (default 2000)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="N = 500, one round")
    parser.add_argument("--no-protean", action="store_true", help="skip protean (slow)")
    parser.add_argument("--protean-n", type=int, default=200)
    parser.add_argument("--only", help="comma-separated contenders, e.g. raw,archipel")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--libpq", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        if args.n is None:
            args.n = 2000
        run_one(args)
        return 0
    n = args.n or (500 if args.quick else 2000)
    rounds = args.rounds or (1 if args.quick else 3)

    from tests._servers import PostgresServer

    server = PostgresServer.launch()
    scratch = Path(tempfile.mkdtemp(prefix="archipel-bench-"))
    results: dict[str, list[Result]] = {}
    try:
        with server.connect() as conn:
            settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # noqa: S608 - fixed names
                for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
            }
        print(f"PostgreSQL {settings} on 127.0.0.1:{server.port}", file=sys.stderr)
        chosen = args.only.split(",") if args.only else [*PG_CONTENDERS, *SQLITE_CONTENDERS]
        plan = [(name, n) for name in chosen if name != "protean"]
        for round_no in range(rounds):
            for name, size in plan:
                print(
                    f"  round {round_no + 1}/{rounds}: {name} N={size} ...",
                    file=sys.stderr,
                    flush=True,
                )
                results.setdefault(name, []).append(_run(server, scratch, name, size))
        if not args.no_protean and (not args.only or "protean" in chosen):
            print(f"  protean N={args.protean_n} ...", file=sys.stderr, flush=True)
            results["protean"] = [_run(server, scratch, "protean", args.protean_n)]
    finally:
        server.destroy()
        shutil.rmtree(scratch, ignore_errors=True)
    _report(results, n, rounds, settings)
    return 0


def _run(server: object, scratch: Path, name: str, n: int) -> Result:
    args = ["--workload", name, "--n", str(n)]
    if name.endswith("sqlite"):
        path = scratch / f"{name}-{uuid.uuid4().hex[:8]}.db"
        return run_workload("storage.py", *args, "--uri", f"sqlite:///{path}")
    database = server.create_database(prefix="bench")  # type: ignore[attr-defined]
    try:
        return run_workload(
            "storage.py",
            *args,
            "--uri",
            server.url(database),  # type: ignore[attr-defined]
            "--libpq",
            server.libpq_url(database),  # type: ignore[attr-defined]
        )
    finally:
        server.drop_database(database)  # type: ignore[attr-defined]


def _median(results: dict[str, list[Result]], name: str, key: str) -> float | None:
    runs = results.get(name)
    return statistics.median(r[key] for r in runs) if runs else None


def _report(
    results: dict[str, list[Result]], n: int, rounds: int, settings: dict[str, str]
) -> None:
    def row(label: str, name: str, raw: str, peer: str, peer_save: str) -> str:
        w, r = _median(results, name, "write_ops"), _median(results, name, "read_ops")
        if w is None or r is None:
            return f"{label:<22} {'-':>10}"
        return (
            f"{label:<22} {w:>10.0f} {ratio(w, _median(results, raw, 'write_ops')):>8}"
            f" {ratio(w, _median(results, peer, 'write_ops')):>8} {ratio(w, _median(results, peer_save, 'write_ops')):>9}"
            f" {r:>10.0f} {ratio(r, _median(results, peer, 'read_ops')):>8}"
        )

    header = f"{'':<22} {'writes/s':>10} {'vs raw':>8} {'vs es':>8} {'vs es-sv':>9} {'reads/s':>10} {'vs es':>8}"
    print(
        f"\nW1 on real storage, N = {n} (protean: N = {_median(results, 'protean', 'n') or '-'}), medians of {rounds} round(s)"
    )
    print(
        f"PostgreSQL {settings.get('server_version')}: fsync={settings.get('fsync')}, synchronous_commit={settings.get('synchronous_commit')}"
    )
    print(header)
    print("-" * len(header))
    for label, name in [
        ("raw (1-row INSERT/tx)", "raw"),
        ("archipel", "archipel"),
        ("archipel, inline proj.", "archipel-inline"),
        ("eventsourcing (System)", "es"),
        ("eventsourcing (save)", "es-save"),
        ("protean 0.18", "protean"),
    ]:
        print(row(label, name, "raw", "es", "es-save"))
    print("\nSQLite (file, WAL; synchronous=FULL but archipel's default NORMAL line)")
    print(header)
    print("-" * len(header))
    for label, name in [
        ("raw (1-row INSERT/tx)", "raw-sqlite"),
        ("archipel (NORMAL)", "archipel-sqlite"),
        ("archipel inline proj.", "archipel-sqlite-inline"),
        ("archipel (FULL)", "archipel-sqlite-full"),
        ("eventsourcing (System)", "es-sqlite"),
        ("eventsourcing (save)", "es-save-sqlite"),
    ]:
        print(row(label, name, "raw-sqlite", "es-sqlite", "es-save-sqlite"))

    def share(a: str, b: str) -> float:
        x, y = _median(results, a, "write_ops"), _median(results, b, "write_ops")
        return (x or 0.0) / y if y else 0.0

    reads = _median(results, "archipel", "read_ops") or 0.0
    print("\nTargets (issue 3):")
    print(
        f"  archipel writes / raw commits       {share('archipel', 'raw'):6.0%}  (target >= 60 %)"
    )
    print(
        f"  archipel writes / eventsourcing     {share('archipel', 'es'):6.2f}x (target >= 5x; vs save-only {share('archipel', 'es-save'):.2f}x)"
    )
    print(f"  archipel reads                      {reads:6.0f}/s (target >= 5000/s)")
    print(
        f"  SQLite archipel / eventsourcing     {share('archipel-sqlite', 'es-sqlite'):6.2f}x (target >= 3x; "
        f"vs save-only {share('archipel-sqlite', 'es-save-sqlite'):.2f}x)"
    )
    print(
        f"  SQLite archipel FULL / es           {share('archipel-sqlite-full', 'es-sqlite'):6.2f}x "
        f"(like for like; vs save-only {share('archipel-sqlite-full', 'es-save-sqlite'):.2f}x)"
    )
    print(
        f"  archipel inline projector / raw     {share('archipel-inline', 'raw'):6.0%}  "
        f"(one commit per command; vs es {share('archipel-inline', 'es'):.2f}x)"
    )
    print(
        f"  SQLite inline projector / es        {share('archipel-sqlite-inline', 'es-sqlite'):6.2f}x"
    )
    print(
        "  (by default archipel commits twice per command: the command's transaction and, after it,"
        " the projector's; an inline=True projector commits with the command; raw commits once per row)"
    )


if __name__ == "__main__":
    sys.exit(main())
