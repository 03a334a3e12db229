"""CPU per event of the consumer's partition runs, in one thread, without the rest of a worker.

    python bench/consumer_cpu.py                    # tick 200 (redis-N) and tick 1 (commit-N)
    python bench/consumer_cpu.py --tick 1 --events 3000 --profile prof.txt
    python bench/consumer_cpu.py --instructions        # callgrind: instructions per event
    python bench/consumer_cpu.py --src OTHER_TREE/src  # an A/B: archipel from another tree

``bench/engine.py``'s workload (``OpenAccount`` -> ``AccountOpened`` -> an
``AccountSummary`` row), relayed to Redis first; then one consumer owning
every partition reads and runs them **in the calling thread**
(``PartitionRunner.run_partition`` per partition in turn, as a run does,
acknowledgements included), so the process's CPU time is the consumer's
alone: no relay, no other thread, no GIL hand-offs. Printed per event: the
client's CPU (µs), PostgreSQL's (its backends' CPU, from ``/proc``),
statements (``pg_stat_statements``), transactions, and Redis calls
(``INFO commandstats``). These move far less with the machine's load than
wall-clock rates; ``--profile FILE`` writes a cProfile summary of the timed
part (sorted by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import operator
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (str(ROOT), os.environ.get("CONSUMER_CPU_SRC") or str(ROOT / "src"), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)


def _pg_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster's children alive now plus those exited (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
        elif parent == postmaster:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _counters(url: str, redis_url: str) -> dict[str, float]:
    import psycopg
    import redis

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        wal = conn.execute("SELECT wal_records, wal_bytes FROM pg_stat_wal").fetchone()
        calls = conn.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query NOT ILIKE '%pg_stat%'"
        ).fetchone()
    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    out = {"pg transactions": float(row[0]) if row else 0.0, "pg statements": float(calls[0]) if calls else 0.0}
    if wal:  # the whole cluster's WAL: load-proof, and a fair part of what PostgreSQL does per event
        out.update({"wal records": float(wal[0]), "wal bytes": float(wal[1])})
    out["redis calls"] = float(sum(v.get("calls", 0) for k, v in stats.items() if k != "cmdstat_info"))
    return out


def _statements(url: str, events: int) -> list[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query, calls, total_exec_time, wal_records, wal_fpi, wal_bytes FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query NOT ILIKE '%pg_stat%' ORDER BY calls DESC LIMIT 8"
        ).fetchall()
    # WAL per call of each statement (full-page images apart: they follow checkpoints, not the statement)
    return [f"    {c / events:7.3f}/event {1000 * t / events:7.1f} us exec  WAL/call {r / c:5.2f} rec "
            f"{f / c:5.2f} fpi {b / c:7.1f} B  {' '.join(q.split())[:90]}"
            for q, c, t, r, f, b in rows]


def _domain(url: str, redis_url: str, tick: int, partitions: int) -> Any:
    from engine import build_domain

    return build_domain(url, {"provider": "redis", "URI": redis_url}, partitions, tick)


def prepare(pg: Any, redis_url: str, total: int, tick: int, partitions: int) -> str:
    """A fresh database holding ``total`` events, all relayed to Redis; its URL."""
    import psycopg
    import redis

    from archipel.engine import EngineSettings
    from archipel.engine.leases import LeaseStore
    from archipel.engine.relay import OutboxRelay

    redis.Redis.from_url(redis_url).flushdb()
    url = pg.url(pg.create_database(prefix="cpu"))
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    bench = _domain(url, redis_url, tick, partitions)
    with bench.domain_context():
        bench.setup_database()
        for n in range(total):
            bench.process(bench.OpenAccount(account_id=f"acc-{n}", owner=f"owner-{n}"))
        relay = OutboxRelay(bench, bench.brokers["default"], LeaseStore(bench),
                            EngineSettings.from_config(bench.config), "relay")
        while relay.tick():
            pass
        relay.release()
    bench.shutdown()
    return url


def consume(url: str, redis_url: str, tick: int, partitions: int, warmup: int, events: int,
            postmaster: int, profile: str | None) -> dict[str, Any]:
    """In the child: one consumer owning every partition runs the events in this thread."""
    import psycopg

    from archipel.engine import EngineSettings
    from archipel.engine.consumer import Consumer
    from archipel.engine.dlq import DeadLetterStore
    from archipel.engine.leases import LeaseStore
    from archipel.engine.ownership import Membership
    from archipel.engine.subscriptions import active_subscriptions

    raw_url = url.replace("postgresql+psycopg://", "postgresql://")
    bench = _domain(url, redis_url, tick, partitions)
    with bench.domain_context():
        settings = EngineSettings.from_config(bench.config)
        leases = LeaseStore(bench)
        sub = next(s for s in active_subscriptions(bench) if s.kind == "projector")
        membership = Membership(leases, bench, "me", settings.lease_seconds)
        consumer = Consumer(bench, sub, bench.brokers["default"], leases, DeadLetterStore(bench),
                            membership, settings, "me", threading.Event())
        consumer._maintain()
        assert len(consumer.parts) == partitions, consumer.parts
        runner = consumer.runner

        def run(until: int) -> None:
            while runner.handled < until:
                if time.monotonic() >= consumer._next_maintenance:  # leases renewed, as a loop turn does
                    consumer._maintain()
                    consumer._next_maintenance = time.monotonic() + 1.0
                consumer._fill()
                for part in consumer.parts.values():
                    consumer._absorb(part)
                    while runner.handled < until and consumer._ready(part):
                        if not runner.run_partition(part):
                            break
                    runner.flush_acks(part)

        run(warmup)  # connections, prepared statements, first batches: not timed
        table = bench.schema_for(bench.AccountSummary).table
        with psycopg.connect(raw_url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
        time.sleep(0.6)
        before = _counters(raw_url, redis_url)
        pg_before = _pg_cpu(postmaster)
        profiler = cProfile.Profile(time.thread_time) if profile else None
        cpu_before = time.process_time()
        times_before = os.times()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        first = runner.handled
        operator.call(run, warmup + events)  # (callgrind collects inside operator.call only)
        events = runner.handled - first
        if profiler:
            profiler.disable()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        system = os.times().system - times_before.system
        time.sleep(1.1)  # backends' counters reach pg_stat_database at most 1 s late
        pg_cpu = _pg_cpu(postmaster) - pg_before
        after = _counters(raw_url, redis_url)
        with psycopg.connect(raw_url, autocommit=True) as conn:
            stored = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        assert stored == runner.handled, (stored, runner.handled)
        statements = _statements(raw_url, events)
        consumer.stop.set()
        consumer.shutdown()
    bench.shutdown()
    if profiler and profile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(45)
        out.write("\n\n")
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
        Path(profile).write_text(out.getvalue())
        profiler.dump_stats(f"{profile}.pstats")  # the raw statistics (python -m pstats FILE)
    per = {k: (after[k] - before[k]) / events for k in after}
    per["pg transactions"] -= 2 / events  # the counters' own look
    return {"client_us": 1e6 * cpu / events, "client_sys_us": 1e6 * system / events,
            "pg_us": 1e6 * pg_cpu / events, "wall_us": 1e6 * wall / events,
            "per_event": per, "statements": statements, "events": events,
            "archipel": str(Path(sys.modules["archipel"].__file__ or "").parent)}


def one_run(pg: Any, redis_url: str, events: int, tick: int, partitions: int,
            profile: str | None, instructions: bool) -> dict[str, Any]:
    """Prepare here, consume in a fresh interpreter (under callgrind with ``instructions``)."""
    warmup = max(events // 10, 2 * partitions * tick)
    url = prepare(pg, redis_url, warmup + events, tick, partitions)
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        command = [sys.executable, __file__, "--child", json.dumps(
            [url, redis_url, tick, partitions, warmup, events, pg.pid, None if instructions else profile, str(result)])]
        if instructions:
            out = Path(tmp) / "callgrind.out"
            command[:0] = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
                           "--toggle-collect=_operator_call", f"--callgrind-out-file={out}"]
        subprocess.run(command, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
                       stderr=subprocess.DEVNULL if instructions else None)
        found = json.loads(result.read_text())
        if instructions:
            found["instructions"] = _callgrind_total(out) / found["events"]
            if profile:
                shutil.copy(out, f"{profile}.callgrind")
    return dict(found)


def _callgrind_total(out: Path) -> float:
    events: list[str] = []
    for line in out.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        if line.startswith(("summary:", "totals:")):
            return float(dict(zip(events, (int(v) for v in line.split()[1:]), strict=False))["Ir"])
    raise RuntimeError("callgrind wrote no total")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=None, help="per run (tick 200: 10000, tick 1: 3000; "
                        "with --instructions 2000 and 400)")
    parser.add_argument("--tick", type=int, action="append", help="messages_per_tick (200 and 1)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instructions", action="store_true",
                        help="count the consumer's instructions with callgrind (load-proof, ~50x slower)")
    parser.add_argument("--profile", help="profile of the last round to FILE.tick-N: cProfile (thread CPU "
                        "time), or with --instructions the callgrind output (FILE.tick-N.callgrind)")
    parser.add_argument("--src", help="measure archipel from this src directory (an A/B: another tree's src)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.src:
        os.environ["CONSUMER_CPU_SRC"] = str(Path(args.src).resolve())
        sys.path.insert(0, os.environ["CONSUMER_CPU_SRC"])
    if args.child:
        url, redis_url, tick, partitions, warmup, events, postmaster, profile, result = json.loads(args.child)
        found = consume(url, redis_url, tick, partitions, warmup, events, postmaster, profile)
        Path(result).write_text(json.dumps(found))
        return 0
    from _harness import load_average
    from tests._servers import PostgresServer, RedisServer

    print(f"start: {load_average()}", file=sys.stderr, flush=True)
    pg = PostgresServer.launch(settings={"shared_preload_libraries": "pg_stat_statements"})
    redis_server = RedisServer.launch()
    keys = ["client_us", "client_sys_us", "pg_us", "wall_us"] + (["instructions"] if args.instructions else [])
    labels = {"client_us": "consumer CPU", "client_sys_us": "  of it system", "pg_us": "PostgreSQL CPU",
              "wall_us": "wall", "instructions": "consumer instr."}
    try:
        for tick in args.tick or [200, 1]:
            events = args.events or ((2000 if tick > 1 else 400) if args.instructions else
                                     (10000 if tick > 1 else 3000))
            runs = []
            for n in range(args.rounds):
                last = n == args.rounds - 1
                prof = f"{args.profile}.tick-{tick}" if args.profile and last else None
                runs.append(one_run(pg, redis_server.url(), events, tick, args.partitions, prof, args.instructions))
            print(f"archipel from {runs[-1]['archipel']}")
            print(f"tick {tick}, {events} events, {args.partitions} partitions, {args.rounds} rounds (median, min-max)"
                  + (" under callgrind: times are callgrind's" if args.instructions else ""))
            for k in keys:
                values = [r[k] for r in runs]
                unit = "k/event" if k == "instructions" else "us/event"
                scale = 1000 if k == "instructions" else 1
                print(f"  {labels[k]:15s} {statistics.median(values) / scale:8.1f} {unit} "
                      f"({min(values) / scale:.1f}-{max(values) / scale:.1f})")
            per = runs[-1]["per_event"]
            print("  per event (last round): " + ", ".join(f"{k} {v:.3f}" for k, v in per.items()))
            print("\n".join(runs[-1]["statements"]))
    finally:
        redis_server.stop()
        pg.stop()
    print(f"end: {load_average()}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
