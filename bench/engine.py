"""End-to-end async engine benchmark: commands in -> events -> outbox -> broker -> projector.

    python bench/engine.py                      # every scenario, 3 rounds
    python bench/engine.py --quick              # 1 round, fewer events
    python bench/engine.py --only redis-1,redis-2 --events 10000
    python bench/engine.py --profile prof/      # a pyinstrument report per worker process

Starts a throwaway PostgreSQL (``track_commit_timestamp = on``) and Redis
(``tests/_servers.py``) unless ``--redis`` is given. Scenarios, each on a
fresh database, alternating within each round:

- ``redis-1``, ``redis-2``, ``redis-4``: Redis Streams broker, 1/2/4 worker processes;
- ``commit-1``, ``commit-2``, ``commit-4``: the same, one commit per message;
- ``raw-commit``: the anchor of ``commit-N``, no engine: psycopg threads committing
  one-row ``INSERT``s on 1, 4 and 16 connections — commits/s and commits per WAL
  flush (what PostgreSQL's group commit gives concurrent committers here);
- ``db-1``, ``db-2``: the embedded database broker (PostgreSQL), 1/2 workers;
- ``latency-redis``, ``latency-db``: a steady ``--rate`` commands/s (200) for
  ``--seconds`` (10) with one worker: latency from ``domain.process()`` to the
  commit of the projection's row, and the CPU the idle engine uses (``latency-db-2``: with 2
  workers);
- ``protean`` (once, not in rounds): protean 0.18's server (``Engine``), Redis.

Throughput workload: W + N ``OpenAccount`` commands (``--warmup`` W, 0 by
default; ``--events`` N), each handled synchronously (one transaction: the
``Account`` row, its ``AccountOpened`` event, the outbox row), then the
engine relays the outbox to the broker and one projector writes
``AccountSummary`` rows to PostgreSQL until the read model holds W + N rows.
The benchmark holds the relay leases while the workers start and balance,
then gives them back as a relay does (``relay_shards_freed``: the relays
look at once; before session 17 each at its next look, 0-50 ms later);
the first W events warm every process up (connections, prepared statements,
first batches), and *engine events/s* and the CPU per event are timed over
the N after them (with W = 0, from the moment the relays may start). The
same run's commit timestamps say, without polling, when the first, the
10/50/90 % and the last events were handled, when every partition had
started and the first was done (``_commit_timeline``). The
relay runs ahead of the consumers, so with W > 0 part of its work falls in
the warm-up: compare runs with the same W only. Scaling is reported per round against the 1-worker figure
of the same kind, partitions and round, and against the cores: 1 worker's
busy cores (workers + PostgreSQL + Redis) say how much more CPU the machine
has for more workers (on a quiet machine: others' load takes its share).

Two kinds of handler load:

- ``redis-N``: batches of ``--tick`` (200) messages per transaction: CPU-bound;
- ``commit-N``: ``messages_per_tick = 1``, each message's effects commit in a
  transaction of their own (fsync on): commit latency bounds each partition.

``kind-N@P`` runs it with P partitions (commits in flight across the workers).
Per event the report also counts the database's transactions and the Redis
calls (``pg_stat_database``, ``INFO commandstats``), the transactions that
wrote and the WAL flushes (``txid_current()``, ``pg_stat_wal``): for
``commit-N``, how many commits share a flush. PostgreSQL's settings that
decide what a commit costs are printed; ``--pg NAME=VALUE`` changes one
(``commit_delay=200``), never ``fsync`` or ``synchronous_commit``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "src"))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

DOMAIN = "Bench"


# -- the archipel domain --------------------------------------------------------
#: entries per handler transaction of the workers (``--tick``)
TICK = {"messages_per_tick": 200}


def build_domain(database_url: str, broker: dict[str, Any], partitions: int, tick: int | None = None) -> Any:
    from archipel import Domain, current_domain, handle
    from archipel.fields import Float, Identifier, String

    config = {
        "databases": {"default": {"provider": "postgresql", "database_uri": database_url}},
        "event_store": {"provider": "postgresql"},
        "brokers": {"default": broker},
        "command_processing": "sync",
        "event_processing": "async",
        "server": {
            "partitions": partitions,
            "messages_per_tick": tick or TICK["messages_per_tick"],
            "lease_seconds": 10,
            "relay_batch_size": 1000,
            "relay_shards": partitions,  # every worker relays a share of the outbox
            "stream_subscription": {"blocking_timeout_ms": 50},
        },
    }
    # no access events (Protean's wide events) nor slow-query timing: bench/README.md
    config["logging"] = {"per_logger": {"archipel.access": "WARNING", "archipel.adapters.repository.sqlalchemy.slow_query": "ERROR"}}
    bench = Domain(name=DOMAIN, config=config)

    @bench.aggregate
    class Account:
        account_id = Identifier(identifier=True)
        owner = String(max_length=50, required=True)

    @bench.event(part_of=Account)
    class AccountOpened:
        account_id = Identifier(required=True)
        owner = String(max_length=50)
        sent_at = Float()

    @bench.command(part_of=Account)
    class OpenAccount:
        account_id = Identifier(required=True)
        owner = String(max_length=50, required=True)
        sent_at = Float()  # when the producer called process() (latency workload)

    @bench.command_handler(part_of=Account)
    class Accounts:
        @handle(OpenAccount)
        def open(self, command: Any) -> None:
            account = Account(account_id=command.account_id, owner=command.owner)
            account.raise_(
                AccountOpened(
                    account_id=account.account_id, owner=account.owner, sent_at=command.sent_at
                )
            )
            current_domain.repository_for(Account).add(account)

    @bench.projection
    class AccountSummary:
        account_id = Identifier(identifier=True)
        owner = String(max_length=50)
        sent_at = Float()
        handled_at = Float()  # when the projector ran (latency breakdown)

    @bench.projector(projector_for=AccountSummary, aggregates=[Account])
    class Summaries:
        @handle(AccountOpened)
        def on_opened(self, event: Any) -> None:
            current_domain.repository_for(AccountSummary).add(
                AccountSummary(
                    account_id=event.account_id,
                    owner=event.owner,
                    sent_at=event.sent_at,
                    handled_at=time.time(),
                )
            )

    bench.init(traverse=False)
    bench.OpenAccount = OpenAccount  # type: ignore[attr-defined]
    bench.Account = Account  # type: ignore[attr-defined]
    bench.AccountSummary = AccountSummary  # type: ignore[attr-defined]
    return bench


def _worker(args: argparse.Namespace) -> int:
    """A worker process: ``run_server`` until SIGTERM."""
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from _harness import profiled

    from archipel.engine import run_server

    bench = build_domain(args.db, json.loads(args.broker), args.partitions, args.tick)
    if os.environ.get("BENCH_SWITCH_MS"):  # --switch-interval: the worker process's GIL switch interval
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_MS"]) / 1000.0)
    if os.environ.get("BENCH_STAGES"):
        _record_stages(os.environ["BENCH_STAGES"])
    if os.environ.get("BENCH_TRACE"):  # --trace: a timeline of every thread's steps
        import _trace

        _trace.install(os.environ["BENCH_TRACE"])
    _name_threads()
    from _harness import PROFILE_ENV

    if os.environ.get(PROFILE_ENV):
        _profile_threads(os.environ[PROFILE_ENV])
    with bench.domain_context(), profiled("engine-worker"):
        return run_server(bench)


def _profile_threads(directory: str) -> None:
    """Profile the engine's threads by role (``--profile``): relay, consumers' reading
    threads, partition runs; one pyinstrument report per role and process, at exit.

    pyinstrument samples the thread that starts it, so each role's calls are
    profiled in their own thread and the sessions combined.
    """
    import atexit
    import threading

    from pyinstrument import Profiler
    from pyinstrument.session import Session

    from archipel.engine.consumer import Consumer
    from archipel.engine.run_threads import RunThreads
    from archipel.engine.worker import Worker

    sessions: dict[str, list[Any]] = {}
    lock = threading.Lock()

    def wrap(role: str, function: Any) -> Any:
        def profiled_call(*args: Any, **kwargs: Any) -> Any:
            profiler = Profiler(interval=0.001)
            profiler.start()
            try:
                return function(*args, **kwargs)
            finally:
                session = profiler.stop()
                with lock:
                    sessions.setdefault(role, []).append(session)

        return profiled_call

    Worker._relay_loop = wrap("relay", Worker._relay_loop)  # type: ignore[method-assign]
    Consumer.run = wrap("consumer-reading", Consumer.run)  # type: ignore[method-assign]
    RunThreads._run = wrap("partition-runs", RunThreads._run)  # type: ignore[method-assign]

    def dump() -> None:
        with lock:
            for role, found in sessions.items():
                combined = found[0]
                for more in found[1:]:
                    combined = Session.combine(combined, more)
                profiler = Profiler()
                profiler._last_session = combined  # noqa: SLF001 - render a combined session
                base = Path(directory) / f"engine-{role}-{os.getpid()}"
                base.with_suffix(".txt").write_text(profiler.output_text(unicode=False, color=False))
                base.with_suffix(".html").write_text(profiler.output_html())

    atexit.register(dump)


#: per-stage wall-clock times of the latency workload's messages (see _record_stages)
STAGES = ("rung", "claimed", "published", "read", "acked")


def _record_stages(directory: str) -> None:
    """Time each message of the latency workload at every hand-off inside this worker.

    Wraps (in this benchmark process only) the relay's claim, the broker's
    publish, the consumer's enqueue of what it read and its acknowledgement,
    and the outbox doorbell; writes ``{stage: {account_id: time}}`` (the first
    time each stage saw the message) at exit. ``rung`` is a list of times.
    """
    import atexit
    import threading

    from archipel.engine.consumer import Consumer
    from archipel.engine.partition_run import PartitionRunner
    from archipel.engine.relay import OutboxRelay
    from archipel.utils.doorbell import OUTBOX, Doorbell, bell

    seen: dict[str, Any] = {stage: {} for stage in STAGES}
    seen["rung"] = []
    lock = threading.Lock()
    outbox_bell = bell(OUTBOX)

    def key(stream: str | None) -> str | None:
        if stream and "-lat-" in stream:
            return stream.split("-", 1)[1]
        return None

    def note(stage: str, streams: list[str | None]) -> None:
        now = time.time()
        with lock:
            for stream in streams:
                k = key(stream)
                if k is not None:
                    seen[stage].setdefault(k, now)

    def meta_stream(payload: dict[str, Any]) -> str | None:
        meta = payload.get("metadata") or {}
        return meta.get("stream") if isinstance(meta, dict) else None

    ring = Doorbell.ring

    def rung(self: Any, *args: Any) -> None:  # (keys, where the tree's doorbell takes them)
        if self is outbox_bell:
            seen["rung"].append(time.time())
        ring(self, *args)

    Doorbell.ring = rung  # type: ignore[method-assign]
    claim = OutboxRelay._claim_rows

    def claimed(self: Any, *args: Any) -> Any:
        out = claim(self, *args)
        note("claimed", [row["stream"] for row in out.rows])
        return out

    OutboxRelay._claim_rows = claimed  # type: ignore[method-assign]
    init = OutboxRelay.__init__

    def relay_init(self: Any, domain: Any, broker: Any, *args: Any, **kwargs: Any) -> None:
        init(self, domain, broker, *args, **kwargs)
        publish = broker.publish_many

        def published(entries: Any) -> Any:
            out = publish(entries)
            note("published", [meta_stream(message) for _, message in entries])
            return out

        broker.publish_many = published

    OutboxRelay.__init__ = relay_init  # type: ignore[method-assign]
    # the direct path (the database broker in the outbox's database): rows are claimed when
    # they are routed (between the move's two round trips), published when the move returns
    try:  # the direct path's routing: in engine/relay_direct.py, or on the relay before it
        from archipel.engine.relay_direct import DirectPath as router
    except ImportError:
        router = OutboxRelay  # type: ignore[assignment,misc]
    route = getattr(router, "_route", None)
    try:
        from archipel.adapters.sql.outbox_direct import DirectRelay
    except ImportError:  # a branch without it
        DirectRelay = None  # type: ignore[assignment,misc]  # noqa: N806
    if route is not None and DirectRelay is not None:

        def routed(self: Any, row: dict[str, Any]) -> str:
            note("claimed", [row["stream"]])
            return str(route(self, row))

        router._route = routed  # type: ignore[method-assign]
        direct_move = DirectRelay.move

        def moved(self: Any, *args: Any, **kwargs: Any) -> Any:
            out = direct_move(self, *args, **kwargs)
            note("published", [row["stream"] for row in out])
            return out

        DirectRelay.move = moved  # type: ignore[method-assign]
    enqueue = Consumer._enqueue

    def enqueued(self: Any, entries: Any) -> None:
        note("read", [meta_stream(entry.payload) for entry in entries])
        enqueue(self, entries)

    Consumer._enqueue = enqueued  # type: ignore[method-assign]
    ack = PartitionRunner.ack

    def acked(self: Any, items: Any) -> None:
        ack(self, items)
        note("acked", [meta_stream(item.entry.payload) for item in items])

    PartitionRunner.ack = acked  # type: ignore[method-assign]

    # how late a thread that wakes gets the GIL: a probe sleeping 10 ms at a time (100
    # wake-ups/s) records how much later than asked it runs again
    seen["gil_late_ms"] = []

    #: CPU seconds and wake-ups (voluntary context switches) of every thread seen, by native
    #: id: (name, seconds, wake-ups), sampled once a second
    threads_cpu: dict[int, tuple[str, float, int]] = {}

    def sample_threads() -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        for thread in threading.enumerate():
            try:
                task = Path(f"/proc/self/task/{thread.native_id}")
                stat = (task / "stat").read_text()
                status = (task / "status").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            name = thread.name.rsplit("_", 1)[0] if "_" in thread.name else thread.name
            wakes = next((int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("voluntary_ctxt_switches")), 0)
            threads_cpu[thread.native_id or 0] = (name, (int(fields[11]) + int(fields[12])) / ticks, wakes)

    def probe() -> None:
        n = 0
        while True:
            asked = time.perf_counter() + 0.01
            time.sleep(0.01)
            seen["gil_late_ms"].append((time.perf_counter() - asked) * 1000)
            n += 1
            if n % 100 == 0:
                sample_threads()

    threading.Thread(target=probe, name="bench-gil-probe", daemon=True).start()

    def thread_cpu() -> dict[str, list[float]]:
        """[CPU seconds, wake-ups] of this process's threads seen alive, by thread name (/proc)."""
        sample_threads()
        out: dict[str, list[float]] = {}
        for name, used, wakes in threads_cpu.values():
            total = out.setdefault(name, [0.0, 0.0])
            total[0] += used
            total[1] += wakes
        return out

    def dump() -> None:
        seen["thread_cpu"] = thread_cpu()
        path = Path(directory) / f"stages-{os.getpid()}.json"
        path.write_text(json.dumps(seen))

    atexit.register(dump)


#: pids of this benchmark's PostgreSQL postmaster and Redis server (set by main)
SERVER_PIDS: dict[str, int] = {}


def _cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) so far of the processes that matter, by kind (Linux /proc).

    PostgreSQL counts its postmaster and every backend it forked; other
    PostgreSQL or Redis servers, and other benchmarks' workers, on the machine are not counted.
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
        if pid == POLL["pid"]:  # the benchmark's own polls
            totals["benchmark"] += used
        elif "engine.py _worker" in cmdline:
            if parent == os.getpid():  # this run's workers, not another benchmark's
                totals["workers"] += used
        elif SERVER_PIDS.get("postgres") in (pid, parent):
            totals["postgres"] += used
        elif SERVER_PIDS.get("redis") == pid:
            totals["redis"] += used
        elif pid == os.getpid():
            totals["benchmark"] += used
    return totals


def _thread_cpu() -> dict[str, float]:
    """CPU seconds so far of this run's workers' threads by role (the Python thread names the
    workers write, see :func:`_name_threads`: ``archipel-Summaries`` is the consumer's reading
    thread, ``archipel-Summaries runs`` its partition runs' pool), and of PostgreSQL's
    processes by kind (``pg backends``, ``pg walwriter``, ...)."""
    import re

    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}

    def add(name: str, stat: str) -> None:
        fields = stat.rsplit(")", 1)[1].split()
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks

    postmaster = SERVER_PIDS.get("postgres")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if postmaster and int(entry.name) == postmaster:
                # backends and autovacuum workers that exited are accounted to the postmaster
                fields = stat.rsplit(")", 1)[1].split()
                totals["pg exited"] = totals.get("pg exited", 0.0) + (int(fields[13]) + int(fields[14])) / ticks
                continue
            if postmaster and parent == postmaster and int(entry.name) != POLL["pid"]:
                words = cmdline.removeprefix("postgres: ").split()
                kind = " ".join(words[:2]) if words and words[0] in ("autovacuum", "background") else (
                    words[0] if words and words[0] in PG_PROCESSES else "backends")
                add("pg " + kind, stat)
                continue
            if "engine.py _worker" not in cmdline or parent != os.getpid():
                continue
            names_file = Path(tempfile.gettempdir()) / f"archipel-bench-threads-{entry.name}.json"
            names = json.loads(names_file.read_text()) if names_file.exists() else {}
            for task in (entry / "task").iterdir():
                name = names.get(task.name, "other")
                # a pool's threads (``archipel-Summaries_0``): a consumer's partition runs
                pooled = re.search(r"_\d+$", name) and not name.startswith("archipel-relay")
                name = re.sub(r"[_-]\d+$", " runs" if pooled else "", name)
                add(name, (task / "stat").read_text())
        except (OSError, ValueError):
            continue
    return totals


#: PostgreSQL's own processes, by the first word of their title (the rest are client backends)
PG_PROCESSES = ("checkpointer", "walwriter", "logical", "archiver", "stats", "walsender")


def _name_threads() -> None:
    """In a worker: write ``{native thread id: Python thread name}`` when threads change, for
    :func:`_thread_cpu` (Python's thread names are not the OS's)."""
    import threading

    path = Path(tempfile.gettempdir()) / f"archipel-bench-threads-{os.getpid()}.json"

    def write() -> None:
        written: dict[str, str] = {}
        while True:
            names = {str(t.native_id): t.name for t in threading.enumerate()}
            if names != written:  # (threads come and go rarely: a file write only then)
                path.write_text(json.dumps(names))
                written = names
            time.sleep(0.05)  # a partition run's thread starts with the work: named before it ends

    threading.Thread(target=write, name="bench-thread-names", daemon=True).start()
    import atexit

    atexit.register(lambda: path.unlink(missing_ok=True))


#: set by ``--statements``: pg_stat_statements is loaded and read around every throughput run
STATEMENTS = {"on": False}


def _statements(database_url: str, reset: bool = False) -> list[tuple[str, float, float, float, float, float]]:
    """``(query, calls, exec ms, plan ms, buffers hit, WAL records)`` of the run's database since
    the last reset, busiest first (buffers and WAL records do not move with the machine's load)."""
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        if reset:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
            return []
        rows = conn.execute(
            "SELECT query, calls, total_exec_time, total_plan_time, shared_blks_hit, wal_records "
            "FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY total_exec_time + total_plan_time DESC LIMIT 12"
        ).fetchall()
        # and the most frequent ones (cheap statements run per wake-up hide below the busiest)
        seen = {row[0] for row in rows}
        rows += [row for row in conn.execute(
            "SELECT query, calls, total_exec_time, total_plan_time, shared_blks_hit, wal_records "
            "FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY calls DESC LIMIT 8"
        ).fetchall() if row[0] not in seen]
    return [(" ".join(q.split()), float(c), float(e), float(pl), float(b), float(w)) for q, c, e, pl, b, w in rows]


#: transactions the benchmark itself ran in the databases (polls), left out of the per-event counts
OWN_TRANSACTIONS = {"count": 0}


#: the benchmark's one connection for its polls (per database URL), and its backend's pid
POLL: dict[str, Any] = {"url": None, "conn": None, "pid": 0}


def _poll(database_url: str) -> Any:
    """The benchmark's connection for its polls during a run: one, kept open.

    A connection per poll (every ~50 ms) forked a backend each time: ~40 a
    second, whose start-up CPU counted as PostgreSQL's per event (sessions 6-7:
    up to ~180 µs per commit-N event). The backend of this one is left out of
    PostgreSQL's CPU (:func:`_cpu_seconds`).
    """
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    if POLL["url"] != url:
        if POLL["conn"] is not None:
            POLL["conn"].close()
        POLL["conn"] = conn = psycopg.connect(url, autocommit=True)
        POLL["url"] = url
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        POLL["pid"] = int(row[0]) if row else 0
        OWN_TRANSACTIONS["count"] += 1
    return POLL["conn"]


def _count(database_url: str, table: str) -> int:
    OWN_TRANSACTIONS["count"] += 1
    row = _poll(database_url).execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608 - our table
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
                 partitions: int, tick: int | None = None, warmup: int = 0) -> dict[str, Any]:
    from archipel.engine import EngineSettings
    from archipel.engine.leases import LeaseStore
    from archipel.engine.records import ensure_tables

    bench = build_domain(database_url, broker, partitions, tick)
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
        procs = _start_workers(database_url, broker, workers, partitions, tick)
        try:
            deadline = time.monotonic() + 60
            while not _balanced(bench, workers, partitions):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: workers did not share the partitions in 60 s")
                time.sleep(0.2)
            table = bench.schema_for(bench.AccountSummary).table
            total = warmup + events
            calls_start = _round_trips(database_url, broker)
            started = time.perf_counter()
            for n in range(total):
                bench.process(bench.OpenAccount(account_id=f"acc-{n}", owner=f"owner-{n}"))
            produced = total / (time.perf_counter() - started)
            calls_before = _settled_counters(database_url, broker, bench, listeners=True)
            # while the benchmark produced, the workers held no relay shard: idle, but woken by
            # every commit (the producer's and the workers' own, per command)
            idle = {k: (calls_before[k] - calls_start.get(k, 0)) / total for k in calls_before}
            leases.release_many([hold for hold in holds if hold is not None])  # go: all at once
            go = time.time()
            # ... and said, as a relay giving shards back says it (s17-dbstart): the relays look
            # at once, not at their next look (a poll interval: 0-50 ms, each at its own phase).
            # Workers of code without FREED (``~base``) take it for a broad ring: no look
            freed = getattr(bench.providers.database(leases.database_name), "relay_shards_freed", None)
            if freed is not None:
                freed()
            # the first ``warmup`` events warm every process up (connections, prepared
            # statements, first batches); the figures are of the ``events`` after them
            deadline = time.perf_counter() + 600
            while (done := _count(database_url, table)) < warmup:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{label}: warm-up incomplete after 600 s")
                time.sleep(0.02)
            if STATEMENTS["on"]:
                _statements(database_url, reset=True)
            cpu_before = _cpu_seconds()
            threads_before = _thread_cpu()
            started = time.perf_counter()
            window_from = time.time()
            waits: dict[str, int] = {}
            # the timeline: when the first event of the timed part was handled (relays taking
            # their shards, first claims and publishes: a fixed start-up more workers do not share)
            first_at = None
            while (seen := _count(database_url, table)) < total:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{label}: read model incomplete after 600 s")
                if first_at is None and seen > done:
                    first_at, first_count = time.perf_counter(), seen
                _sample_waits(database_url, waits)
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            window = (window_from, time.time())
            if first_at is None:
                first_at, first_count = started + elapsed, done
            startup = first_at - started
            after_first = (total - first_count) / max(1e-9, elapsed - startup)
            timed = total - done  # the events handled in the timed part (about ``events``)
            cpu_after = _cpu_seconds()
            threads = {k: v - threads_before.get(k, 0.0) for k, v in _thread_cpu().items()}
            timeline = _commit_timeline(database_url, table, go, warmup, partitions)
            statements = _statements(database_url) if STATEMENTS["on"] else []
            cpu = {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_before}
            # the workers' backends publish their counters as they exit (their stop's few
            # transactions are counted with the run's)
            codes = _stop_workers(procs)
            procs = []
            calls_after = _settled_counters(database_url, broker, bench, idle_seconds=0.5)
            calls = {k: (calls_after[k] - calls_before.get(k, 0)) / total for k in calls_after}
        finally:
            if procs:
                codes = _stop_workers(procs)
        bench.shutdown()
    return {"label": label, "events": timed, "commands_per_s": produced,
            "events_per_s": timed / elapsed, "seconds": elapsed, "startup": startup,
            "after_first": after_first, "exit_codes": codes, "cpu": cpu,
            "waits": waits, "calls": calls, "idle_calls": idle, "threads": threads,
            "statements": statements, "window": window, "timeline": timeline}


def _commit_timeline(database_url: str, table: str, go: float, warmup: int, partitions: int) -> dict[str, float]:
    """When the timed part's events were handled and relayed, from the commit timestamps
    (``track_commit_timestamp``), in seconds after the go (the relay leases' release): no
    polling in them, so no 50 ms steps.

    ``first`` / ``p10`` / ``p50`` / ``p90`` / ``last``: the commit of the read model's row of the
    first, 10th, 50th, 90th percentile and last event handled (after the ``warmup`` first);
    ``all_started``: the first event of the partition that started last; ``first_done``: the last
    event of the partition that finished first (the partitions' spread: a relay that started late
    holds its shards' partitions back, and no other worker can take up their share);
    ``moved_first`` / ``moved_last``: the relay's first and last commit that moved outbox rows
    (the commit of each row's ``sent`` version); ``whole``: events per second over
    ``[go, last]``, ``steady``: over the 10th to 90th percentile.
    """
    OWN_TRANSACTIONS["count"] += 3
    conn = _poll(database_url)
    handled = conn.execute(
        f"SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)), account_id FROM {table} ORDER BY 1"  # noqa: S608
    ).fetchall()[warmup:]
    done = [float(row[0]) for row in handled]
    # each event's partition: its outbox row's shard (the same hash; relay_shards = partitions)
    shard_of = {stream.split("-", 1)[-1]: int(shard) for stream, shard in conn.execute(
        "SELECT stream, shard FROM archipel_outbox").fetchall()}
    by_partition: dict[int, list[float]] = {}
    for at, account in handled:
        if account in shard_of:
            by_partition.setdefault(shard_of[account] % partitions, []).append(float(at))
    moved = conn.execute(
        "SELECT min(extract(epoch FROM pg_xact_commit_timestamp(xmin))),"
        " max(extract(epoch FROM pg_xact_commit_timestamp(xmin))) FROM archipel_outbox WHERE status = 'sent'"
    ).fetchone()
    if not done:
        return {}

    def at(q: float) -> float:
        return done[min(len(done) - 1, int(q * len(done)))] - go

    timeline = {"first": done[0] - go, "p10": at(0.1), "p50": at(0.5), "p90": at(0.9), "last": done[-1] - go}
    if by_partition:  # every partition started (its first event handled) / the first partition done
        timeline["all_started"] = max(min(times) for times in by_partition.values()) - go
        timeline["first_done"] = min(max(times) for times in by_partition.values()) - go
    if moved and moved[0] is not None:
        timeline["moved_first"], timeline["moved_last"] = float(moved[0]) - go, float(moved[1]) - go
    timeline["whole"] = len(done) / max(1e-9, timeline["last"])
    timeline["steady"] = 0.8 * len(done) / max(1e-9, timeline["p90"] - timeline["p10"])
    return timeline


#: PostgreSQL 15 (pgstat.c, PGSTAT_IDLE_INTERVAL): a backend that goes idle less than a second
#: after it last published its counters publishes them only after 10 s idle (or at its exit)
PGSTAT_IDLE_SECONDS = 10.0


def _settled_counters(database_url: str, broker: dict[str, Any], bench: Any,
                      idle_seconds: float = PGSTAT_IDLE_SECONDS + 1.0, listeners: bool = False) -> dict[str, float]:
    """:func:`_round_trips` once every backend has published its counters.

    ``pg_stat_database`` and ``pg_stat_wal`` hear of a backend's transactions and
    WAL records when it publishes them: at most once a second while it works, but
    one that goes idle within a second of its last publication keeps them until
    it has been idle :data:`PGSTAT_IDLE_SECONDS`, or exits. Read after a second,
    the counters missed up to a second of every pooled connection's work and got
    earlier work instead (session 14's quiet run: the producer's commits and the
    idle relays' looks during production landed in db-2's window, 1.09 commits per
    event; its WAL records, 4.3 at 1 worker and 8.3 at 2, were whichever backends
    happened to publish). So the benchmark's own connections are closed (their
    backends publish as they exit), with ``listeners`` the workers' ``LISTEN``
    backends are ended (:func:`_end_listeners`), and the others are given
    ``idle_seconds``.
    """
    for database in bench.providers.databases.values():
        engine = getattr(database, "engine", None)
        if engine is not None and hasattr(engine, "dispose"):
            engine.dispose()
    if POLL["conn"] is not None:
        POLL["conn"].close()
        POLL["conn"], POLL["url"] = None, None
    if listeners:
        _end_listeners(database_url)
    time.sleep(idle_seconds)
    return _round_trips(database_url, broker)


def _end_listeners(database_url: str) -> int:
    """End the workers' ``LISTEN`` backends (they reconnect at once); return how many.

    A backend waiting in ``LISTEN`` reads each notification in a transaction of its
    own (one per notification, or per several that arrived together) — counted in
    ``xact_commit`` although no statement ran — and, never going idle through a
    statement, publishes those counts only when it exits: at the workers' stop, a
    whole run's worth (one per command per worker while the benchmark produced).
    Ended here, they are counted where they happened.
    """
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state = 'idle' AND query LIKE 'LISTEN %'"
        ).fetchall()
    return len(rows)


def _wal(conn: Any) -> tuple[float, float]:
    """``(WAL flushes, transaction ids handed out)`` of the cluster so far (pg_stat_wal, txid_current)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()
    xid = conn.execute("SELECT txid_current()").fetchone()
    return float(row[0]), float(xid[0])


def run_raw_commits(database_url: str, connections: int, seconds: float) -> dict[str, Any]:
    """The anchor of ``commit-N``: ``connections`` threads of psycopg, each committing one-row
    ``INSERT``s on its own connection (autocommit, fsync on) for ``seconds``; no engine.

    Says what this PostgreSQL and disk give concurrent committers at the moment:
    commits/s, and how many commits share a WAL flush (PostgreSQL's group commit).
    """
    import threading

    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS raw_commit (id bigserial PRIMARY KEY, v text)")
        flushes_before, xids_before = _wal(conn)
    counts = [0] * connections
    stop = threading.Event()

    def commit(slot: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO raw_commit (v) VALUES (%s)", ("x",))
                counts[slot] += 1

    threads = [threading.Thread(target=commit, args=(n,)) for n in range(connections)]
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    cpu = _cpu_seconds()["postgres"] - cpu_before["postgres"]  # (before the backends exit)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        flushes_after, xids_after = _wal(conn)
    commits = sum(counts)
    flushes = flushes_after - flushes_before
    return {"label": f"raw-commit x{connections}", "connections": connections, "commits_per_s": commits / elapsed,
            "commits_per_flush": (xids_after - xids_before - 1) / flushes if flushes else float("nan"),
            "pg_us_per_commit": 1e6 * cpu / commits if commits else float("nan"), "exit_codes": []}


def _round_trips(database_url: str, broker: dict[str, Any]) -> dict[str, float]:
    """Counters of work done so far: the database's committed and rolled-back transactions
    (``pg_stat_database``) and, on Redis, the calls of each stream command (``INFO commandstats``).

    Per event, they say what a message costs in commits and broker round trips
    whatever the machine's speed; idle workers add a few (renewals, polls). The
    benchmark's own polls (:data:`OWN_TRANSACTIONS`) are left out.
    """
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        # the cluster's WAL: flushes (fsync/fdatasync) and writes; transaction ids handed out
        # = transactions that wrote (read-only ones take none, and flush nothing)
        wal = conn.execute("SELECT wal_write, wal_sync, wal_records FROM pg_stat_wal").fetchone()
        xid = conn.execute("SELECT txid_current()").fetchone()
    own = OWN_TRANSACTIONS["count"] + 4  # this look's own statements
    OWN_TRANSACTIONS["count"] = own
    out = {"pg commits": (float(row[0]) if row else 0.0) - own, "pg rollbacks": float(row[1]) if row else 0.0}
    if wal and xid:
        out.update({"wal writes": float(wal[0]), "wal flushes": float(wal[1]),
                    "wal records": float(wal[2]), "writing commits": float(xid[0])})
    if broker.get("provider") == "redis":
        import redis

        client = redis.Redis.from_url(broker["URI"])
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        for command in ("xreadgroup", "xack", "xadd"):
            out[command] = float(stats.get(f"cmdstat_{command}", {}).get("calls", 0))
    return out


#: the PostgreSQL settings that decide what a commit costs (printed with the results)
DURABILITY = ("fsync", "synchronous_commit", "wal_sync_method", "commit_delay", "commit_siblings",
              "wal_buffers", "full_page_writes", "wal_writer_delay", "shared_buffers")


def _durability(database_url: str) -> dict[str, str]:
    """The benchmark PostgreSQL's settings of :data:`DURABILITY`."""
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", (list(DURABILITY),)
        ).fetchall()
    found = {name: f"{int(setting) * 8} kB" if unit == "8kB" else f"{setting}{' ' + unit if unit else ''}"
             for name, setting, unit in rows}
    return {name: found.get(name, "?") for name in DURABILITY}


def _sessions(database_url: str) -> int:
    """Sessions ever established to the benchmark's database (pg_stat_database, PostgreSQL 14+)."""
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0


def _sample_waits(database_url: str, waits: dict[str, int]) -> None:
    """Count what the workers' PostgreSQL backends are doing now (pg_stat_activity)."""
    OWN_TRANSACTIONS["count"] += 1
    for state, kind, event, backend in _poll(database_url).execute(
        "SELECT state, wait_event_type, wait_event, backend_type FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid() AND (datname = current_database() AND backend_type = 'client backend' "
        "OR wait_event IN ('WALSync', 'WALWrite', 'DataFileFlush', 'DataFileSync'))"
    ).fetchall():
        name = "idle" if state and state.startswith("idle") else f"{kind or 'CPU'}:{event or '-'}"
        if state == "idle in transaction":
            name = "idle in transaction"
        if backend != "client backend":  # WAL and data file flushes of the server's own processes
            name = f"{backend} {kind}:{event}"
        waits[name] = waits.get(name, 0) + 1


def _start_workers(database_url: str, broker: dict[str, Any], workers: int, partitions: int,
                   tick: int | None = None) -> list[Any]:
    src = os.environ.get("BENCH_WORKER_SRC") or str(ROOT / "src")  # (``~base``: another tree's code)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, str(ROOT), str(HERE)]))
    return [
        subprocess.Popen(
            [sys.executable, str(HERE / "engine.py"), "_worker", "--db", database_url,
             "--broker", json.dumps(broker), "--partitions", str(partitions),
             "--tick", str(tick or TICK["messages_per_tick"])],
            env=env, cwd=ROOT,
        )
        for _ in range(workers)
    ]


def _stop_workers(procs: list[Any]) -> list[int]:
    codes = []
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            codes.append(proc.wait(60))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(-9)
    return codes


def _busy(seconds: float) -> dict[str, float]:
    """CPU share (of one core) used by workers, PostgreSQL and Redis over ``seconds`` of nothing."""
    before = _cpu_seconds()
    time.sleep(seconds)
    after = _cpu_seconds()
    return {k: round((after[k] - before[k]) / seconds, 3) for k in ("workers", "postgres", "redis")}


def run_latency(label: str, database_url: str, broker: dict[str, Any], workers: int, rate: float,
                seconds: float, partitions: int) -> dict[str, Any]:
    """Steady ``rate`` commands/s for ``seconds``: command-to-projection latency, and idle CPU.

    Latency is from ``domain.process()`` being called (``sent_at``) to the commit
    of the projection's row (``pg_xact_commit_timestamp``, same machine clock).
    """
    import psycopg

    from archipel.engine.records import ensure_tables

    bench = build_domain(database_url, broker, partitions)
    notified = _time_notifier()
    with bench.domain_context():
        bench.setup_database()
        bench.brokers["default"].truncate()
        ensure_tables(bench)
        import tempfile

        stages_dir = tempfile.mkdtemp(prefix="bench-stages-")
        os.environ["BENCH_STAGES"] = stages_dir
        try:
            procs = _start_workers(database_url, broker, workers, partitions)
        finally:
            del os.environ["BENCH_STAGES"]
        table = bench.schema_for(bench.AccountSummary).table
        try:
            deadline = time.monotonic() + 60
            while not _balanced(bench, workers, partitions):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: workers did not share the partitions in 60 s")
                time.sleep(0.2)
            for n in range(50):  # warm up every path once
                bench.process(bench.OpenAccount(account_id=f"warm-{n}", owner="w", sent_at=time.time()))
            while _count(database_url, table) < 50:
                time.sleep(0.05)
            # every backend's counters published before the look (_settled_counters): the
            # listeners ended, then idle for PGSTAT_IDLE_SECONDS, the last 3 s measuring idle CPU
            _end_listeners(database_url)
            time.sleep(PGSTAT_IDLE_SECONDS - 2.0)
            idle = _busy(3.0)
            total = int(rate * seconds)
            sessions_before = _sessions(database_url)
            calls_before = _round_trips(database_url, broker)
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            for n in range(total):
                pause = started + n / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                bench.process(bench.OpenAccount(account_id=f"lat-{n}", owner=f"o-{n}", sent_at=time.time()))
            lag = time.perf_counter() - started - total / rate
            wait_until = time.monotonic() + 120
            while _count(database_url, table) < total + 50:
                if time.monotonic() > wait_until:
                    raise RuntimeError(f"{label}: read model incomplete after 120 s")
                time.sleep(0.05)
            cpu_after = _cpu_seconds()
            cpu_us = {k: round(1e6 * (cpu_after[k] - cpu_before[k]) / total, 1) for k in ("workers", "postgres")}
            # connections opened meanwhile (a pool too small for the worker's threads churns them)
            sessions = _sessions(database_url) - sessions_before - 1
            # the workers' backends publish their counters as they exit (_settled_counters)
            codes = _stop_workers(procs)
            procs = []
            calls_after = _settled_counters(database_url, broker, bench, idle_seconds=0.5)
            calls = {k: (calls_after[k] - calls_before.get(k, 0)) / total for k in calls_after}
            url = database_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(url, autocommit=True) as conn:
                accounts = bench.schema_for(bench.Account).table
                outbox = bench.providers.database().outbox().table.name
                relayed = conn.execute(
                    f"SELECT o.sent_at - extract(epoch FROM pg_xact_commit_timestamp(a.xmin)) "  # noqa: S608
                    f"FROM {outbox} o JOIN {accounts} a ON o.stream = 'bench::account-' || a.account_id "
                    "WHERE a.account_id LIKE 'lat-%%' AND o.sent_at IS NOT NULL"
                ).fetchall()
                relayed_ms = sorted(float(r[0]) * 1000 for r in relayed) or [0.0]
                # sent -> command committed -> projector ran -> projection committed
                rows = conn.execute(
                    "SELECT extract(epoch FROM pg_xact_commit_timestamp(s.xmin)) - s.sent_at, "  # noqa: S608
                    "extract(epoch FROM pg_xact_commit_timestamp(a.xmin)) - s.sent_at, "
                    "s.handled_at - extract(epoch FROM pg_xact_commit_timestamp(a.xmin)), "
                    "extract(epoch FROM pg_xact_commit_timestamp(s.xmin)) - s.handled_at, "
                    "s.account_id, extract(epoch FROM pg_xact_commit_timestamp(a.xmin)), s.handled_at, "
                    "extract(epoch FROM pg_xact_commit_timestamp(s.xmin)) "
                    f"FROM {table} s JOIN {accounts} a ON a.account_id = s.account_id "
                    "WHERE s.account_id LIKE 'lat-%%'"
                ).fetchall()
        finally:
            if procs:
                codes = _stop_workers(procs)
        bench.shutdown()
    breakdown = _stage_breakdown(stages_dir, rows)
    breakdown["notify_ms"] = notified()
    def pct(column: int, q: float) -> float:
        values = sorted(float(r[column]) * 1000 for r in rows)
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"label": label, "p50_ms": pct(0, 0.50), "p90_ms": pct(0, 0.90), "p99_ms": pct(0, 0.99),
            "max_ms": pct(0, 1.0), "idle_cpu": idle, "producer_lag_s": lag, "exit_codes": codes,
            "stages_p50_ms": [pct(c, 0.5) for c in (1, 2, 3)],
            "stages_p99_ms": [pct(c, 0.99) for c in (1, 2, 3)],
            "cpu_us_per_command": cpu_us, "sessions": sessions, "calls": calls,
            "relayed_ms": [relayed_ms[len(relayed_ms) // 2], relayed_ms[int(len(relayed_ms) * 0.99)]],
            "breakdown": breakdown}


def _time_notifier() -> Any:
    """Time, in this (the producer's) process, each commit's call of the notifier to the
    ``pg_notify`` that carries it leaving (written by the committing thread, or sent by the
    notifier thread); return a function giving p50 / p99 (ms)."""
    import bisect

    from archipel.adapters.sql import wakeup

    pokes: list[float] = []
    sent: list[float] = []
    notify, connect = wakeup.PgSignals.notify, wakeup.PgSignals._connect

    def poked(self: Any, signal: str, *keys: Any) -> None:  # (keys, where the tree's take them)
        pokes.append(time.perf_counter())
        notify(self, signal, *keys)

    class Timed:
        def __init__(self, conn: Any) -> None:
            self._conn = conn

        def __getattr__(self, name: str) -> Any:
            return getattr(self._conn, name)

        def execute(self, *args: Any) -> Any:
            out = self._conn.execute(*args)
            sent.append(time.perf_counter())
            return out

    class Fairy:
        def __init__(self, fairy: Any) -> None:
            self._fairy = fairy
            self.driver_connection = Timed(fairy.driver_connection)

        def close(self) -> None:
            self._fairy.close()

    wakeup.PgSignals.notify = poked  # type: ignore[method-assign]
    wakeup.PgSignals._connect = lambda self: Fairy(connect(self))  # type: ignore[method-assign]
    direct = getattr(wakeup.PgSignals, "_send", None)  # written by the committing thread itself
    if direct is not None:

        def written(self: Any, signal: str, *keys: Any) -> bool:
            done = bool(direct(self, signal, *keys))
            if done:
                sent.append(time.perf_counter())
            return done

        wakeup.PgSignals._send = written  # type: ignore[attr-defined]

    def result() -> list[float]:
        waits = sorted(
            (sent[found] - poke) * 1000
            for poke in pokes[:]
            if (found := bisect.bisect_left(sent, poke)) < len(sent)
        )
        return [waits[len(waits) // 2], waits[int(len(waits) * 0.99)]] if waits else [0.0, 0.0]

    return result


#: the hand-offs of one message, in order, as (label, from, to) of the stage times
HANDOFFS = (
    ("commit->wake", "committed", "rung"),
    ("wake->claimed", "rung", "claimed"),
    ("claimed->published", "claimed", "published"),
    ("published->read", "published", "read"),
    ("read->handler", "read", "handled"),
    ("handler->commit", "handled", "projected"),
    ("commit->ack", "projected", "acked"),
)


def _stage_breakdown(directory: str, rows: list[Any]) -> dict[str, list[float]]:
    """p50 and p99 (ms) of every hand-off of the latency workload's messages."""
    import bisect
    import shutil

    seen: dict[str, Any] = {stage: {} for stage in STAGES}
    seen["rung"] = []
    late: list[float] = []  # the GIL probe's lateness (ms)
    threads: dict[str, list[float]] = {}  # [CPU seconds, wake-ups] by thread name
    for path in Path(directory).glob("stages-*.json"):
        data = json.loads(path.read_text())
        seen["rung"] += data["rung"]
        late += data.get("gil_late_ms", [])
        for name, (used, wakes) in data.get("thread_cpu", {}).items():
            total = threads.setdefault(name, [0.0, 0.0])
            total[0] += used
            total[1] += wakes
        for stage in STAGES[1:]:
            for k, t in data[stage].items():
                seen[stage][k] = min(t, seen[stage].get(k, t))
    shutil.rmtree(directory, ignore_errors=True)
    late.sort()
    rings = sorted(seen["rung"])
    deltas: dict[str, list[float]] = {label: [] for label, _, _ in HANDOFFS}
    for row in rows:
        account, committed, handled, projected = str(row[4]), float(row[5]), float(row[6]), float(row[7])
        times = {"committed": committed, "handled": handled, "projected": projected}
        found = bisect.bisect_left(rings, committed)
        if found < len(rings):
            times["rung"] = rings[found]
        for stage in STAGES[1:]:
            if account in seen[stage]:
                times[stage] = seen[stage][account]
        for label, start, end in HANDOFFS:
            if start in times and end in times:
                deltas[label].append((times[end] - times[start]) * 1000)
    out: dict[str, Any] = {}
    for label, values in deltas.items():
        values.sort()
        out[label] = (
            [values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))], len(values)]
            if values else [0.0, 0.0, 0]
        )
    out["gil_late_ms"] = (
        [late[len(late) // 2], late[int(len(late) * 0.99)], late[-1]] if late else [0.0, 0.0, 0.0]
    )
    out["thread_cpu"] = {name: [round(used, 2), wakes]
                         for name, (used, wakes) in sorted(threads.items(), key=lambda kv: -kv[1][0])}
    out["commands"] = len(rows)
    return out


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
#: the issue's targets, against 1 worker of the same kind and partitions
TARGETS = {2: 1.6, 4: 2.5}
DB_TARGET = 1.3


def _print_statements(results: dict[str, list[dict[str, Any]]], chosen: list[str]) -> None:
    """``--statements``: the workers' CPU by thread and the busiest statements, per event (last round)."""
    for name in chosen:
        runs = [r for r in results.get(name, []) if r.get("threads") is not None]
        if not runs or name.startswith("latency-"):
            continue
        run = runs[-1]
        events = run["events"] or 1
        print(f"\n{name} (last round): workers' CPU by thread, us/event: " + ", ".join(
            f"{k} {1e6 * v / events:.0f}" for k, v in sorted(run["threads"].items(), key=lambda kv: -kv[1])
            if v > 0))
        for query, calls, exec_ms, plan_ms, hits, wal in run.get("statements", []):
            print(f"  {calls / events:7.4f} calls/event {1e3 * exec_ms / events:6.1f} us exec "
                  f"{1e3 * plan_ms / events:5.1f} us plan {hits / events:6.1f} buffers "
                  f"({hits / max(calls, 1):7.0f} a call) {wal / events:5.2f} WAL rec  {query[:110]}")


def _busy_cores(run: dict[str, Any]) -> float:
    """Cores kept busy by the workers, PostgreSQL and Redis during a throughput run."""
    cpu = run["cpu"]
    return float(cpu["workers"] + cpu["postgres"] + cpu["redis"]) / float(run["seconds"])


def _scaling_summary(results: dict[str, list[dict[str, Any]]], chosen: list[str], cores: int,
                     default_partitions: int) -> None:
    """Scaling both ways: against the core count where CPU is the limit (``redis-N``: batches
    of ``messages_per_tick``), against the issue's targets where commits are (``commit-N``)."""
    from _harness import ratios, spread

    print("\nscaling (median of the per-round ratios against 1 worker, same kind and partitions)")
    for name in chosen:
        if name.startswith("latency-") or name not in results:
            continue
        kind, workers, parts = _scenario(name, default_partitions)
        anchor = _anchor(name)
        if workers == 1 or anchor not in results:
            continue
        got = ratios([r["events_per_s"] for r in results[name]],
                     [r["events_per_s"] for r in results[anchor]])[0]
        one = statistics.median(_busy_cores(r) for r in results[anchor])
        ceiling = min(float(workers), cores / one) if one else float(workers)
        line = (f"  {name:<12} {got:.2f}x; 1 worker keeps {one:.2f} of {cores} cores busy "
                f"(workers+PostgreSQL+Redis), so CPU allows at most x{ceiling:.2f}")
        if kind == "db":
            line += f"; target >= {DB_TARGET}x: {'met' if got >= DB_TARGET else 'NOT met'}"
        elif kind == "commit" and workers in TARGETS:
            goal = TARGETS[workers]
            line += f"; target >= {goal}x: {'met' if got >= goal else 'NOT met'}"
        elif kind == "redis":
            line += f" ({got / ceiling:.0%} of that)"
        print(line)
    commits = [n for n in chosen if n.startswith("commit-") and n in results]
    if commits:
        print("  commit-N, per event (medians; the cluster's WAL, so the workers' lease renewals and the "
              "relay's marks count too):")
        for name in commits:
            runs = results[name]
            writing = [r["calls"].get("writing commits", 0.0) for r in runs]
            flushes = [r["calls"].get("wal flushes", 0.0) for r in runs]
            shared = [w / f for w, f in zip(writing, flushes, strict=True) if f]
            per_s = [r["events_per_s"] * f for r, f in zip(runs, flushes, strict=True)]
            print(f"    {name:<12} {spread(writing)} writing commits, {spread(flushes)} WAL flushes: "
                  f"{spread(shared)} commits per flush, {spread(per_s, '.0f')} flushes/s")
    if any(n.startswith("commit-") for n in chosen):
        print(f"  commit-N: the Redis workload with messages_per_tick = {COMMIT_TICK}: each message's "
              "effects commit in a transaction of their own (fsync on), so commit latency, not CPU, "
              "bounds a partition; commits in flight = partitions (@P, default "
              f"{default_partitions}), shared by the workers")

SCENARIOS = ("redis-1", "redis-2", "redis-4", "raw-commit", "commit-1", "commit-2", "commit-4", "db-1",
             "db-2", "latency-redis", "latency-db")
#: ``raw-commit``: connections committing at once, and seconds of each
RAW_CONNECTIONS = (1, 4, 16)
RAW_SECONDS = 2.0
#: the brokers of the throughput scenarios (``commit-N``: Redis, one commit per message)
KINDS = {"redis": "redis", "commit": "redis", "db": "db"}
#: ``commit-N``: each message's effects commit in a transaction of their own
COMMIT_TICK = 1


#: ``--base OTHER_TREE/src``: the code of the workers of scenarios named ``...~base``
BASE: dict[str, str] = {}


def _scenario(name: str, default_partitions: int) -> tuple[str, int, int]:
    """``(kind, workers, partitions)`` of a throughput scenario ``kind-N`` or ``kind-N@P``
    (``~base``: the same, its workers running ``--base``'s code)."""
    base, _, parts = name.removesuffix("~base").partition("@")
    kind, count = base.split("-")
    return kind, int(count), int(parts) if parts else default_partitions


def _anchor(name: str) -> str:
    """The 1-worker scenario of ``name``'s kind, partitions and code."""
    suffix = "~base" if name.endswith("~base") else ""
    base, at, parts = name.removesuffix("~base").partition("@")
    return f"{base.split('-')[0]}-1{at}{parts}{suffix}"


def main(argv: list[str] | None = None) -> int:
    from _harness import add_profile_flag, enable_profiling, load_average, ratios, spread

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("_worker")
    worker.add_argument("--db", required=True)
    worker.add_argument("--broker", required=True)
    worker.add_argument("--partitions", type=int, default=4)
    worker.add_argument("--tick", type=int, default=200)
    parser.add_argument("--events", type=int, default=None, help="events per throughput run (10000)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (3)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="events handled before the timed ones in each throughput run (0): leaves "
                             "each process's start-up out, but also whatever the relay, ahead of the "
                             "consumers, did meanwhile")
    parser.add_argument("--quick", action="store_true", help="1 round, 3000 events, 5 s of latency")
    parser.add_argument("--switch-interval", type=float, default=None, metavar="MS",
                        help="the workers' GIL switch interval (sys.setswitchinterval, ms; Python's default 5)")
    parser.add_argument("--rate", type=float, default=200.0, help="commands/s of the latency runs")
    parser.add_argument("--seconds", type=float, default=None, help="length of the latency runs (10)")
    parser.add_argument("--only", help=f"comma-separated scenarios of {','.join(SCENARIOS)}; "
                        "a throughput scenario takes @P for P partitions (redis-2@16), a latency one "
                        "-N for N workers (latency-db-2)")
    parser.add_argument("--protean-events", type=int, default=300)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--tick", type=int, default=200,
                        help="messages_per_tick: entries per handler transaction (small: commit-bound)")
    parser.add_argument("--statements", action="store_true",
                        help="load pg_stat_statements and print each throughput run's busiest statements "
                             "(calls and execution + planning time per event) and its workers' CPU by thread")
    parser.add_argument("--pg", action="append", default=[], metavar="NAME=VALUE",
                        help="a postgresql.conf setting of the benchmark's PostgreSQL (repeatable), e.g. "
                             "commit_delay=100; printed with the results. fsync and synchronous_commit "
                             "stay on: the benchmark refuses to turn them off")
    parser.add_argument("--base", metavar="OTHER_TREE/src",
                        help="another tree's src (e.g. `git archive BASE src | tar -x -C DIR`: DIR/src) whose "
                             "code the workers of scenarios named NAME~base run: before / after in the same run")
    parser.add_argument("--redis", help="Redis URL (default: start one)")
    parser.add_argument("--skip-protean", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--trace", metavar="DIR",
                        help="a timeline of each worker's threads per throughput run (bench/_trace.py): "
                             "per thread, the share of the timed part in each step, its CPU, and idle")
    add_profile_flag(parser)
    args = parser.parse_args(argv)
    if args.command == "_worker":
        return _worker(args)
    enable_profiling(args.profile)
    if args.switch_interval is not None:  # inherited by the worker processes
        os.environ["BENCH_SWITCH_MS"] = str(args.switch_interval)
    TICK["messages_per_tick"] = args.tick
    events = args.events or (3000 if args.quick else 10000)
    rounds = args.rounds or (1 if args.quick else 3)
    warmup = args.warmup or 0
    seconds = args.seconds or (5.0 if args.quick else 10.0)
    chosen = args.only.split(",") if args.only else list(SCENARIOS)

    from tests._servers import PostgresServer, RedisServer

    load_before = load_average()
    print(f"start: {load_before}", file=sys.stderr, flush=True)
    pg_settings = {"track_commit_timestamp": "on"}
    for setting in args.pg:
        name, _, value = setting.partition("=")
        if name.strip() in ("fsync", "synchronous_commit") or not value:
            parser.error(f"--pg {setting}: NAME=VALUE, and fsync / synchronous_commit stay on")
        pg_settings[name.strip()] = value.strip()
    if args.statements:
        STATEMENTS["on"] = True
        pg_settings.update({"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track_planning": "on"})
    pg = PostgresServer.launch(settings=pg_settings)
    durability = _durability(pg.url(pg.dbname))
    redis_server = RedisServer.launch() if not args.redis else None
    redis_url = args.redis or (redis_server.url() if redis_server else "")
    SERVER_PIDS["postgres"] = pg.pid or 0
    if redis_server is not None and redis_server.pid is not None:
        SERVER_PIDS["redis"] = redis_server.pid
    results: dict[str, list[dict[str, Any]]] = {}
    protean: dict[str, Any] | None = None
    try:
        def database() -> str:
            return pg.url(pg.create_database(prefix="bench"))

        def flush() -> None:
            import redis

            client = redis.Redis.from_url(redis_url)
            client.flushdb()
            client.close()

        brokers = {"redis": {"provider": "redis", "URI": redis_url}, "db": {"provider": "database"}}
        for round_no in range(rounds):
            for name in chosen:
                print(f"  round {round_no + 1}/{rounds}: {name} ...", file=sys.stderr, flush=True)
                flush()
                if name == "raw-commit":
                    url = database()
                    for connections in RAW_CONNECTIONS:
                        results.setdefault(f"raw-commit x{connections}", []).append(
                            run_raw_commits(url, connections, RAW_SECONDS))
                    continue
                if name.startswith("latency-"):
                    # latency-db, latency-redis; latency-db-2: 2 workers (each commit wakes both)
                    kind, _, count = name.split("-", 1)[1].partition("-")
                    result = run_latency(name, database(), brokers[kind], int(count or 1), args.rate, seconds,
                                         args.partitions)
                else:
                    kind, count, parts = _scenario(name, args.partitions)
                    if args.trace:  # a timeline per worker process: bench/_trace.py
                        traces = Path(args.trace) / f"{name}-{round_no + 1}"
                        traces.mkdir(parents=True, exist_ok=True)
                        os.environ["BENCH_TRACE"] = str(traces)
                    if name.endswith("~base"):
                        if not args.base:
                            parser.error(f"{name}: give the base tree's src with --base OTHER_TREE/src")
                        os.environ["BENCH_WORKER_SRC"] = str(Path(args.base))
                    try:
                        result = run_archipel(name, database(), brokers[KINDS[kind]], count, events, parts,
                                              COMMIT_TICK if kind == "commit" else None, warmup)
                    finally:
                        os.environ.pop("BENCH_TRACE", None)
                        os.environ.pop("BENCH_WORKER_SRC", None)
                    if args.trace:
                        import _trace

                        result["trace"] = _trace.summarise(str(traces), *result["window"])
                results.setdefault(name, []).append(result)
        if not args.skip_protean and not args.only:
            flush()
            protean = run_protean(database(), redis_url, args.protean_events)
    finally:
        if POLL["conn"] is not None:
            POLL["conn"].close()
        pg.destroy()
        if redis_server is not None:
            redis_server.destroy()
    load_after = load_average()

    cores = os.cpu_count() or 1
    print(f"\nasync engine, {rounds} round(s), {events} events per throughput run after {warmup} of "
          "warm-up; medians (low-high)")
    print(f"machine: start {load_before}; end {load_after}")
    print("PostgreSQL: " + ", ".join(f"{k} = {v}" for k, v in durability.items()))
    header = (f"{'scenario':<10} {'events/s':>22} {'vs 1 worker, same round':>26} "
              f"{'CPUs busy (of ' + str(cores) + ')':>22} {'us CPU/event: workers, PG':>27}")
    print(header)
    print("-" * len(header))
    for name in chosen:
        runs = results.get(name, [])
        if not runs or name.startswith("latency-"):
            continue
        anchor = results.get(_anchor(name), [])
        rates = [r["events_per_s"] for r in runs]
        scale = ratios(rates, [r["events_per_s"] for r in anchor]) if anchor else (0.0, 0.0, 0.0)
        busy = [sum(r["cpu"].values()) / r["seconds"] for r in runs]
        workers_us = [1e6 * r["cpu"]["workers"] / r["events"] for r in runs]
        pg_us = [1e6 * r["cpu"]["postgres"] / r["events"] for r in runs]
        scaled = f"{scale[0]:.2f}x ({scale[1]:.2f}-{scale[2]:.2f})" if scale[0] else "-"
        print(f"{name:<10} {spread(rates, '.0f'):>22} {scaled:>26} {spread(busy):>22} "
              f"{spread(workers_us, '.0f') + ', ' + spread(pg_us, '.0f'):>27}")
    print("\nstart-up (first event of the timed part handled after, ms) and the rate from then on "
          "(events/s; the read model is polled every ~50 ms)")
    for name in chosen:
        runs = [r for r in results.get(name, []) if "startup" in r]
        if runs and not name.startswith("latency-"):
            anchor = [r for r in results.get(_anchor(name), []) if "after_first" in r]
            after = [r["after_first"] for r in runs]
            scale = ratios(after, [r["after_first"] for r in anchor]) if anchor else (0.0, 0.0, 0.0)
            print(f"  {name:<10} start-up {spread([1e3 * r['startup'] for r in runs], '.0f')} ms, "
                  f"then {spread(after, '.0f')} ev/s"
                  + (f" = {scale[0]:.2f}x ({scale[1]:.2f}-{scale[2]:.2f}) of 1 worker's" if scale[0] else ""))
    print("\nfrom the commit timestamps (no polling): ms after the go to the first event handled / the "
          "first of the partition that started last / 10 % / 50 % / 90 % / the last of the partition "
          "done first / the last event handled, the relay's first and last move; events/s over [go, last] (whole) "
          "and between 10 % and 90 % (steady), against 1 worker's of the same round")
    for name in chosen:
        runs = [r for r in results.get(name, []) if r.get("timeline")]
        if runs and not name.startswith("latency-"):
            anchor = [r for r in results.get(_anchor(name), []) if r.get("timeline")]
            marks = " / ".join(spread([1e3 * r["timeline"].get(k, 0.0) for r in runs], ".0f")
                               for k in ("first", "all_started", "p10", "p50", "p90", "first_done", "last"))
            moves = " / ".join(spread([1e3 * r["timeline"].get(k, 0.0) for r in runs], ".0f")
                               for k in ("moved_first", "moved_last"))
            line = f"  {name:<10} {marks} ms; moves {moves} ms"
            for key in ("whole", "steady"):
                rates = [r["timeline"][key] for r in runs]
                line += f"; {key} {spread(rates, '.0f')}"
                if anchor:
                    scale = ratios(rates, [r["timeline"][key] for r in anchor])
                    line += f" = {scale[0]:.2f}x ({scale[1]:.2f}-{scale[2]:.2f})"
            print(line)
    print("\nPostgreSQL backends of the workers, sampled every ~50 ms during the throughput runs "
          "(share of samples, busy backends only: lock waits show as Lock:*)")
    for name in chosen:
        runs = results.get(name, [])
        if not runs or name.startswith("latency-"):
            continue
        total: dict[str, int] = {}
        for r in runs:
            for k, v in r.get("waits", {}).items():
                total[k] = total.get(k, 0) + v
        busy = {k: v for k, v in total.items() if k not in ("idle", "idle in transaction")}
        count = sum(busy.values()) or 1
        top = sorted(busy.items(), key=lambda kv: -kv[1])[:5]
        idle_tx = total.get("idle in transaction", 0)
        print(f"  {name:<10} " + ", ".join(f"{k} {100 * v / count:.0f}%" for k, v in top)
              + f"; idle in transaction {idle_tx} samples")
    print("\nround trips per event, warm-up included (medians; transactions of the run's database, "
          "Redis calls by command: a pipeline's XADDs count one each; read once every backend published "
          "its counters: the workers' stop included)")
    for name in chosen:
        runs = [r for r in results.get(name, []) if r.get("calls")]
        if not runs or name.startswith("latency-"):
            continue
        keys = list(runs[0]["calls"])
        print(f"  {name:<10} " + ", ".join(
            f"{k} {statistics.median(r['calls'].get(k, 0.0) for r in runs):.3f}" for k in keys))
    print("\nwhile producing (workers started, relay shards held by the benchmark: idle, woken by each "
          "commit), per command; the producer's own commit included")
    for name in chosen:
        runs = [r for r in results.get(name, []) if r.get("idle_calls")]
        if runs:
            print(f"  {name:<10} " + ", ".join(
                f"{k} {statistics.median(r['idle_calls'].get(k, 0.0) for r in runs):.3f}"
                for k in ("pg commits", "pg rollbacks", "writing commits", "wal records")))
    if args.statements:
        _print_statements(results, chosen)
    if args.trace:
        print("\nworkers' threads over the timed part (bench/_trace.py; % of the window's wall time, "
              "steps nest: a partition run holds its batches, a batch its COMMIT)")
        for name in chosen:
            for number, r in enumerate(results.get(name, [])):
                if r.get("trace"):
                    print(f"  {name} round {number + 1}, events/s {r['events_per_s']:.0f}")
                    for line in r["trace"]:
                        print(f"    {line}")
    raw = [n for n in results if n.startswith("raw-commit x")]
    if raw:
        print("\nraw-commit: psycopg threads committing one-row INSERTs on their own connections (fsync on, "
              f"no engine), {RAW_SECONDS:.0f} s each: what this PostgreSQL and disk give concurrent committers")
        for name in raw:
            runs = results[name]
            print(f"  {name:<16} {spread([r['commits_per_s'] for r in runs], '.0f')} commits/s, "
                  f"{spread([r['commits_per_flush'] for r in runs])} commits per WAL flush, "
                  f"PostgreSQL {spread([r['pg_us_per_commit'] for r in runs], '.0f')} µs CPU/commit")
    _scaling_summary(results, chosen, cores, args.partitions)
    latency = [n for n in chosen if n.startswith("latency-") and n in results]
    if latency:
        print(f"\nend-to-end latency at {args.rate:.0f} commands/s for {seconds:.0f} s, 1 worker "
              "(target p99 <= 15 ms); idle CPU in share of one core")
        for name in latency:
            runs = results[name]
            p50 = [r["p50_ms"] for r in runs]
            p99 = [r["p99_ms"] for r in runs]
            worst = [r["max_ms"] for r in runs]
            idle = [sum(r["idle_cpu"].values()) for r in runs]
            print(f"  {name:<14} p50 {spread(p50, '.1f')} ms, p99 {spread(p99, '.1f')} ms "
                  f"(x{statistics.median(p99) / 15:.2f} of the target), max {spread(worst, '.0f')} ms; "
                  f"idle CPU {spread(idle, '.3f')} (workers+PostgreSQL+Redis)")
            stages50 = [statistics.median(r["stages_p50_ms"][i] for r in runs) for i in range(3)]
            stages99 = [statistics.median(r["stages_p99_ms"][i] for r in runs) for i in range(3)]
            print("    stages p50 / p99 ms: command commit {:.1f} / {:.1f}, to the projector {:.1f} / {:.1f}, "
                  "projection commit {:.1f} / {:.1f}".format(*(x for pair in zip(stages50, stages99, strict=True) for x in pair)))
            print("    hand-offs p50 / p99 ms (median of runs): " + ", ".join(
                f"{label} {statistics.median(r['breakdown'][label][0] for r in runs):.1f} / "
                f"{statistics.median(r['breakdown'][label][1] for r in runs):.1f}"
                for label, _, _ in HANDOFFS))
            notify = [r["breakdown"].get("notify_ms", [0.0, 0.0]) for r in runs]
            print("    in the producer's process, its commit -> its pg_notify sent: p50 / p99 "
                  f"{statistics.median(x[0] for x in notify):.2f} / {statistics.median(x[1] for x in notify):.2f} ms")
            late = [r["breakdown"].get("gil_late_ms", [0.0, 0.0, 0.0]) for r in runs]
            print("    a worker thread waking every 10 ms runs late by p50 / p99 / max ms (median of runs): "
                  + " / ".join(f"{statistics.median(x[i] for x in late):.2f}" for i in range(3))
                  + "  (waits for the GIL; the workers' switch interval "
                  + f"{float(os.environ.get('BENCH_SWITCH_MS', 5.0)):.1f} ms)")
            cpu = runs[-1]["breakdown"].get("thread_cpu", {})
            commands = max(1, runs[-1]["breakdown"].get("commands", 1) + 50)
            print("    worker threads (last run, whole process life, idle and start-up included): CPU s / "
                  "wake-ups per command: " + ", ".join(
                      f"{name} {used:.2f} / {wakes / commands:.1f}" for name, (used, wakes) in list(cpu.items())[:10]))
            keys = [k for k in ("pg commits", "writing commits", "xreadgroup", "xack", "xadd") if k in runs[0]["calls"]]
            print("    per command (the benchmark's own look-ups and the idle workers' included): " + ", ".join(
                f"{k} {statistics.median(r['calls'].get(k, 0.0) for r in runs):.2f}" for k in keys))
            relay = [statistics.median(r["relayed_ms"][i] for r in runs) for i in range(2)]
            print(f"    outbox row marked sent after the command's commit: p50 {relay[0]:.1f} / p99 {relay[1]:.1f} ms")
            workers_us = [r["cpu_us_per_command"]["workers"] for r in runs]
            pg_us = [r["cpu_us_per_command"]["postgres"] for r in runs]
            idle_w = [r["idle_cpu"]["workers"] for r in runs]
            idle_pg = [r["idle_cpu"]["postgres"] for r in runs]
            print(f"    CPU per command under load (µs, load-independent): worker {spread(workers_us, '.0f')}, "
                  f"PostgreSQL {spread(pg_us, '.0f')}; idle CPU: worker {spread(idle_w, '.3f')}, "
                  f"PostgreSQL {spread(idle_pg, '.3f')}; connections opened during the run "
                  f"{spread([r['sessions'] for r in runs], '.0f')}")
    if protean is not None and "redis-1" in results:
        one = statistics.median(r["events_per_s"] for r in results["redis-1"])
        print(f"\nprotean 0.18, Redis, 1 server: {protean['events_per_s']:.0f} events/s; "
              f"archipel 1 worker / protean: {one / protean['events_per_s']:.0f}x")
    bad = [(n, r["exit_codes"]) for n, runs in results.items() for r in runs
           if any(code != 0 for code in r["exit_codes"])]
    if bad:
        print(f"warning: unclean exits: {bad}")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
