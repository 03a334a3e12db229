"""End-to-end async engine benchmark: commands in -> events -> outbox -> broker -> projector.

    python bench/engine.py [--events 20000] [--protean-events 300] [--partitions 4]

Starts a throwaway PostgreSQL and Redis (``tests/_servers.py``) unless
``--pg``/``--redis`` are given, then runs, each on a fresh database:

1. archipel, Redis Streams broker, 1 worker process;
2. archipel, Redis Streams broker, 2 worker processes;
3. archipel, the embedded database broker (PostgreSQL), 1 worker process;
4. protean 0.18's server (``Engine``), Redis broker, the same workload.

Workload: N ``OpenAccount`` commands, each handled synchronously (one
transaction: the ``Account`` row, its ``AccountOpened`` event, the outbox
row), then the engine relays the outbox to the broker and one projector
builds ``AccountSummary`` until the read model holds N rows.

Measured: *commands in* (the producer, one command per transaction) and
*engine events/s* — from the moment the engine may start relaying until the
read model is complete. For archipel the workers are started first and wait
(the benchmark holds the relay lease), so the figure is steady-state
throughput, not process start-up; for protean it is timed from its first
projected row. Only ratios from one run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "src"))

DOMAIN = "Bench"


# -- the archipel domain --------------------------------------------------------
def build_domain(database_url: str, broker: dict[str, Any], partitions: int) -> Any:
    from archipel import Domain, current_domain, handle
    from archipel.fields import Identifier, String

    config = {
        "databases": {"default": {"provider": "postgresql", "database_uri": database_url}},
        "event_store": {"provider": "postgresql"},
        "brokers": {"default": broker},
        "command_processing": "sync",
        "event_processing": "async",
        "server": {
            "partitions": partitions,
            "messages_per_tick": 200,
            "lease_seconds": 10,
            "relay_batch_size": 1000,
            "relay_shards": partitions,  # every worker relays a share of the outbox
            "stream_subscription": {"blocking_timeout_ms": 50},
        },
    }
    bench = Domain(name=DOMAIN, config=config)

    @bench.aggregate
    class Account:
        account_id = Identifier(identifier=True)
        owner = String(max_length=50, required=True)

    @bench.event(part_of=Account)
    class AccountOpened:
        account_id = Identifier(required=True)
        owner = String(max_length=50)

    @bench.command(part_of=Account)
    class OpenAccount:
        account_id = Identifier(required=True)
        owner = String(max_length=50, required=True)

    @bench.command_handler(part_of=Account)
    class Accounts:
        @handle(OpenAccount)
        def open(self, command: Any) -> None:
            account = Account(account_id=command.account_id, owner=command.owner)
            account.raise_(AccountOpened(account_id=account.account_id, owner=account.owner))
            current_domain.repository_for(Account).add(account)

    @bench.projection
    class AccountSummary:
        account_id = Identifier(identifier=True)
        owner = String(max_length=50)

    @bench.projector(projector_for=AccountSummary, aggregates=[Account])
    class Summaries:
        @handle(AccountOpened)
        def on_opened(self, event: Any) -> None:
            current_domain.repository_for(AccountSummary).add(
                AccountSummary(account_id=event.account_id, owner=event.owner)
            )

    bench.init(traverse=False)
    bench.OpenAccount = OpenAccount  # type: ignore[attr-defined]
    bench.AccountSummary = AccountSummary  # type: ignore[attr-defined]
    return bench


def _worker(args: argparse.Namespace) -> int:
    """A worker process: ``run_server`` until SIGTERM."""
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from archipel.engine import run_server

    bench = build_domain(args.db, json.loads(args.broker), args.partitions)
    with bench.domain_context():
        return run_server(bench)


#: pids of this benchmark's PostgreSQL postmaster and Redis server (set by main)
SERVER_PIDS: dict[str, int] = {}


def _cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) so far of the processes that matter, by kind (Linux /proc).

    PostgreSQL counts its postmaster and every backend it forked; other
    PostgreSQL or Redis servers on the machine are not counted.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    totals = {"workers": 0.0, "postgres": 0.0, "redis": 0.0, "benchmark": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid, parent = int(entry.name), int(fields[1])
        used = (int(fields[11]) + int(fields[12])) / ticks
        if pid == SERVER_PIDS.get("postgres"):
            # backends that exited are accounted to the postmaster (cutime, cstime)
            used += (int(fields[13]) + int(fields[14])) / ticks
        if "engine.py _worker" in cmdline:
            totals["workers"] += used
        elif SERVER_PIDS.get("postgres") in (pid, parent):
            totals["postgres"] += used
        elif SERVER_PIDS.get("redis") == pid:
            totals["redis"] += used
        elif pid == os.getpid():
            totals["benchmark"] += used
    return totals


def _count(database_url: str, table: str) -> int:
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - our table
        return int(row[0]) if row else 0


def _balanced(bench: Any, workers: int, partitions: int) -> bool:
    """Every subscription's partitions are leased, shared by ``workers`` distinct owners."""
    from archipel.core.queryset import Criteria
    from archipel.engine.leases import LeaseStore

    store = LeaseStore(bench)
    tx = store.database.begin()
    try:
        rows, _ = tx.query(store.schema, Criteria())
    finally:
        tx.rollback()
    now = time.time()
    by_scope: dict[str, list[str]] = {}
    for row in rows:
        if "/partition/" in row["scope"] and row.get("owner") and row["expires_at"] > now:
            by_scope.setdefault(row["scope"], []).append(row["owner"])
    if not by_scope:
        return False
    return all(len(o) == partitions and len(set(o)) == workers for o in by_scope.values())


def run_archipel(label: str, database_url: str, broker: dict[str, Any], workers: int, events: int,
                 partitions: int) -> dict[str, Any]:
    from archipel.engine import EngineSettings
    from archipel.engine.leases import LeaseStore
    from archipel.engine.records import ensure_tables

    bench = build_domain(database_url, broker, partitions)
    with bench.domain_context():
        bench.setup_database()
        bench.brokers["default"].truncate()
        ensure_tables(bench)
        leases = LeaseStore(bench)
        # hold every relay shard: workers start, balance their partitions and wait
        shards = EngineSettings.from_config(bench.config).relay_shards
        holds = [
            leases.acquire(f"{bench.snake_name}/relay/default/{shard}", "relay", "benchmark", 3600)
            for shard in range(shards)
        ]
        assert all(hold is not None for hold in holds)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
        procs = [
            subprocess.Popen(
                [sys.executable, str(HERE / "engine.py"), "_worker", "--db", database_url,
                 "--broker", json.dumps(broker), "--partitions", str(partitions)],
                env=env, cwd=ROOT,
            )
            for _ in range(workers)
        ]
        try:
            deadline = time.monotonic() + 60
            while not _balanced(bench, workers, partitions):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: workers did not share the partitions in 60 s")
                time.sleep(0.2)
            table = bench.schema_for(bench.AccountSummary).table
            started = time.perf_counter()
            for n in range(events):
                bench.process(bench.OpenAccount(account_id=f"acc-{n}", owner=f"owner-{n}"))
            produced = events / (time.perf_counter() - started)
            cpu_before = _cpu_seconds()
            for hold in holds:  # go
                leases.release(hold)
            started = time.perf_counter()
            while _count(database_url, table) < events:
                if time.perf_counter() - started > 600:
                    raise RuntimeError(f"{label}: read model incomplete after 600 s")
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            cpu_after = _cpu_seconds()
            cpu = {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_before}
        finally:
            codes = []
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    codes.append(proc.wait(60))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    codes.append(-9)
        bench.shutdown()
    return {"label": label, "events": events, "commands_per_s": produced,
            "events_per_s": events / elapsed, "seconds": elapsed, "exit_codes": codes, "cpu": cpu}


# -- protean ----------------------------------------------------------------------
PROTEAN_SCRIPT = r'''
import json, logging, sys, threading, time, warnings, os
warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)
from protean import Domain, handle
from protean.core.aggregate import BaseAggregate
from protean.core.command import BaseCommand
from protean.core.command_handler import BaseCommandHandler
from protean.core.event import BaseEvent
from protean.core.projection import BaseProjection
from protean.core.projector import BaseProjector
from protean.fields import Identifier, String
import psycopg
pg, redis_url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
domain = Domain(name="PBench")
domain.config["databases"]["default"] = {"provider": "postgresql", "database_uri": pg}
domain.config["brokers"]["default"] = {"provider": "redis", "URI": redis_url}
domain.config["command_processing"] = "sync"
domain.config["event_processing"] = "async"
domain.config["enable_outbox"] = True
domain.config["server"]["default_subscription_type"] = "stream"
class Account(BaseAggregate):
    owner = String(max_length=50, required=True)
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
class AccountSummary(BaseProjection):
    account_id = Identifier(identifier=True)
    owner = String(max_length=50)
class Summaries(BaseProjector):
    @handle(AccountOpened)
    def on_opened(self, event):
        domain.repository_for(AccountSummary).add(AccountSummary(account_id=event.account_id, owner=event.owner))
domain.register(Account)
domain.register(AccountOpened, part_of=Account)
domain.register(OpenAccount, part_of=Account)
domain.register(Accounts, part_of=Account)
domain.register(AccountSummary)
domain.register(Summaries, projector_for=AccountSummary, aggregates=[Account])
domain.init(traverse=False)
with domain.domain_context():
    domain.setup_database()
    started = time.perf_counter()
    for i in range(n):
        domain.process(OpenAccount(owner=f"owner-{i}"))
    produced = n / (time.perf_counter() - started)
    from protean.server import Engine
    engine = Engine(domain)
    def watch():
        first = None
        with psycopg.connect(pg, autocommit=True) as conn:
            while True:
                count = conn.execute("SELECT count(*) FROM account_summary").fetchone()[0]
                now = time.perf_counter()
                if count and first is None:
                    first = (now, count)
                if count >= n:
                    rate = (n - first[1]) / max(1e-9, now - first[0]) if now > first[0] else float("nan")
                    print(json.dumps({"commands_per_s": produced, "events_per_s": rate,
                                      "seconds": now - first[0]}), flush=True)
                    os._exit(0)
                time.sleep(0.05)
    threading.Thread(target=watch, daemon=True).start()
    engine.run()
'''


def run_protean(database_url: str, redis_url: str, events: int) -> dict[str, Any]:
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    proc = subprocess.run(
        [sys.executable, "-c", PROTEAN_SCRIPT, url, redis_url, str(events)],
        capture_output=True, text=True, timeout=1800, cwd=ROOT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"protean run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1])
    result.update(label="protean 0.18, Redis, 1 server", events=events, exit_codes=[proc.returncode])
    return dict(result)


# -- orchestration ------------------------------------------------------------------
def _table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'workload':<46} {'events':>7} {'commands in/s':>14} {'engine events/s':>16} {'seconds':>8}"
        "   CPU s in the run: workers/postgres/redis/bench"
    ]
    for r in results:
        cpu = r.get("cpu")
        used = (
            f"   {cpu['workers']:.1f} / {cpu['postgres']:.1f} / {cpu['redis']:.1f} / {cpu['benchmark']:.1f}"
            if cpu else ""
        )
        lines.append(
            f"{r['label']:<46} {r['events']:>7} {r['commands_per_s']:>14.0f} "
            f"{r['events_per_s']:>16.0f} {r['seconds']:>8.2f}{used}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("_worker")
    worker.add_argument("--db", required=True)
    worker.add_argument("--broker", required=True)
    worker.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--protean-events", type=int, default=300)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--pg", help="PostgreSQL server URL to create databases on (default: start one)")
    parser.add_argument("--redis", help="Redis URL (default: start one)")
    parser.add_argument("--skip-protean", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    if args.command == "_worker":
        return _worker(args)

    from tests._servers import PostgresServer, RedisServer

    pg = PostgresServer.launch()
    redis_server = RedisServer.launch() if not args.redis else None
    redis_url = args.redis or (redis_server.url() if redis_server else "")
    SERVER_PIDS["postgres"] = pg.pid or 0
    if redis_server is not None and redis_server.pid is not None:
        SERVER_PIDS["redis"] = redis_server.pid
    results = []
    try:
        def database() -> str:
            return pg.url(pg.create_database(prefix="bench"))

        def flush() -> None:
            import redis

            client = redis.Redis.from_url(redis_url)
            client.flushdb()
            client.close()

        redis_broker = {"provider": "redis", "URI": redis_url}
        for label, broker, workers in (
            ("archipel, Redis, 1 worker", redis_broker, 1),
            ("archipel, Redis, 2 workers", redis_broker, 2),
            ("archipel, embedded database broker, 1 worker", {"provider": "database"}, 1),
        ):
            flush()
            results.append(run_archipel(label, database(), broker, workers, args.events, args.partitions))
            print(_table(results[-1:]).splitlines()[-1], flush=True)
        if not args.skip_protean:
            flush()
            results.append(run_protean(database(), redis_url, args.protean_events))
    finally:
        pg.destroy()
        if redis_server is not None:
            redis_server.destroy()
    print()
    print(_table(results))
    by = {r["label"]: r["events_per_s"] for r in results}
    one, two = by["archipel, Redis, 1 worker"], by["archipel, Redis, 2 workers"]
    print()
    print(f"2 workers / 1 worker (Redis):           {two / one:.2f}x   (target >= 1.6x)")
    print(f"1 worker on Redis, events/s:            {one:.0f}     (target >= 5000 per worker)")
    print(f"embedded broker / Redis (1 worker):     {by['archipel, embedded database broker, 1 worker'] / one:.2f}x")
    if "protean 0.18, Redis, 1 server" in by:
        protean = by["protean 0.18, Redis, 1 server"]
        print(f"archipel 1 worker / protean (Redis):    {one / protean:.0f}x   (target >= 10x)")
    for r in results:
        if r.get("cpu"):
            busy = sum(v for k, v in r["cpu"].items()) / r["seconds"]
            print(f"{r['label']:<46} used {busy:.2f} of {os.cpu_count()} CPUs "
                  f"({1e6 * r['cpu']['workers'] / r['events']:.0f} us/event in workers, "
                  f"{1e6 * r['cpu']['postgres'] / r['events']:.0f} us/event in PostgreSQL)")
    bad = [r for r in results if any(code not in (0,) for code in r["exit_codes"])]
    if bad:
        print(f"warning: unclean exits: {[(r['label'], r['exit_codes']) for r in bad]}")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
