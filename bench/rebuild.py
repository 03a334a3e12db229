"""Projection rebuild speed: events replayed per second, against raw bulk inserts.

N events (``BookAdded``: one new row each, a simple projector) are stored,
then ``domain.rebuild_projection(Catalogue)`` replays them; events/s is N
divided by the rebuild's time (reading the events, upcasting nothing,
running the projector, writing the rows). The same N rows are also written
by raw psycopg ``executemany`` and ``COPY`` (PostgreSQL) and raw
``sqlite3.executemany`` (SQLite), the limits of the database.

PostgreSQL on a throwaway server (``tests/_servers.py``); SQLite in a
temporary folder. Each run in a fresh interpreter, medians of the rounds.

    python bench/rebuild.py                  # N = 100000, 3 rounds
    python bench/rebuild.py --n 20000 --rounds 1

Targets (issue 15): >= 100 k events/s on PostgreSQL, >= 50 k/s on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT), str(ROOT / "src")]

from _harness import (  # noqa: E402
    add_profile_flag,
    enable_profiling,
    load_average,
    profiled,
    ratios,
    run_workload,
    spread,
)

BATCH = 5000


def _tree_cpu(pid: int) -> float:
    """CPU seconds used by process ``pid`` and its descendants (reaped ones included); Linux."""
    parents: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        parents.setdefault(int(fields[1]), []).append(int(entry))
        used[int(entry)] = sum(int(f) for f in fields[11:15]) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0.0)
        todo.extend(parents.get(current, []))
    return total


class Timed:
    """Wall time, this process's CPU and (PostgreSQL) the server's CPU of a block, per event."""

    def __init__(self, n: int, server_pid: int | None) -> None:
        self.n = n
        self.server_pid = server_pid
        self.figures: dict[str, float] = {}

    def __enter__(self) -> Timed:
        self.server = _tree_cpu(self.server_pid) if self.server_pid else 0.0
        self.cpu = time.process_time()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        server = _tree_cpu(self.server_pid) - self.server if self.server_pid else 0.0
        self.figures = {
            "events_per_s": self.n / wall,
            "client_us": cpu / self.n * 1e6,
            "server_us": server / self.n * 1e6,
        }


def archipel(n: int, uri: str, batch_size: int, server_pid: int | None = None) -> dict[str, float]:
    from archipel import BaseAggregate, BaseEvent, BaseProjection, Domain, current_domain, handle
    from archipel.fields import Identifier, String

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
    domain = Domain(name="Bench", config=storage)

    @domain.aggregate
    class Book(BaseAggregate):
        title = String(max_length=200)

    @domain.event(part_of=Book)
    class BookAdded(BaseEvent):
        book_id = Identifier()
        title = String(max_length=200)

    @domain.projection
    class Catalogue(BaseProjection):
        book_id = Identifier(identifier=True)
        title = String(max_length=200)

    @domain.projector(projector_for=Catalogue, aggregates=[Book])
    class CatalogueProjector:
        @handle(BookAdded)
        def added(self, event: BookAdded) -> None:
            current_domain.repository_for(Catalogue).add(Catalogue(book_id=event.book_id, title=event.title))

    domain.init(traverse=False)
    with domain.domain_context():
        domain.drop_database()
        domain.setup_database()
        store = domain.event_store
        for start in range(0, n, BATCH):
            events = []
            for i in range(start, min(n, start + BATCH)):
                book = Book(title=f"title {i}")
                book.raise_(BookAdded(book_id=book.id, title=book.title))
                events.extend(book._events)
            store.append(events)
        label = "memory" if uri == "memory" else uri.split(":", 1)[0].split("+", 1)[0]
        with profiled(f"rebuild-{label}"), Timed(n, server_pid) as timed:
            result = domain.rebuild_projection(Catalogue, batch_size=batch_size)
        assert result.events_dispatched == n, result
        assert domain.query_for(Catalogue).count() == n
    domain.shutdown()
    for thread in ("main", "reader", "fetch", "writer"):
        timed.figures[f"{thread}_us"] = result.cpu_seconds.get(thread, 0.0) / n * 1e6
    return timed.figures


def raw_pg(n: int, uri: str, how: str, server_pid: int | None = None) -> dict[str, float]:
    import psycopg

    url = uri.replace("postgresql+psycopg://", "postgresql://")
    rows = [(str(uuid.uuid4()), f"title {i}") for i in range(n)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (book_id varchar(36) PRIMARY KEY, title varchar(200), _version int)")
        with Timed(n, server_pid) as timed, conn.transaction(), conn.cursor() as cur:
            if how == "copy":
                with cur.copy("COPY t (book_id, title, _version) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row((*row, 0))
            else:
                cur.executemany("INSERT INTO t VALUES (%s, %s, 0)", rows)
    return timed.figures


def raw_sqlite(n: int, uri: str) -> dict[str, float]:
    path = uri.split("///", 1)[1]
    rows = [(str(uuid.uuid4()), f"title {i}") for i in range(n)]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (book_id varchar(36) PRIMARY KEY, title varchar(200), _version int)")
    with Timed(n, None) as timed, conn:
        conn.executemany("INSERT INTO t VALUES (?, ?, 0)", rows)
    conn.close()
    return timed.figures


PLAN = [
    ("postgresql", "archipel"), ("postgresql", "executemany"), ("postgresql", "copy"),
    ("sqlite", "archipel"), ("sqlite", "sqlite-executemany"), ("memory", "archipel"),
]
LABELS = {
    ("postgresql", "archipel"): "PostgreSQL archipel rebuild",
    ("postgresql", "executemany"): "PostgreSQL raw executemany",
    ("postgresql", "copy"): "PostgreSQL raw COPY",
    ("sqlite", "archipel"): "SQLite archipel rebuild",
    ("sqlite", "sqlite-executemany"): "SQLite raw executemany",
    ("memory", "archipel"): "memory archipel rebuild",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    add_profile_flag(parser)
    args = parser.parse_args()
    if args.workload:
        if args.workload == "archipel":
            result = archipel(args.n, args.uri, args.batch_size, args.server_pid)
        elif args.workload in ("executemany", "copy"):
            result = raw_pg(args.n, args.uri, args.workload, args.server_pid)
        else:
            result = raw_sqlite(args.n, args.uri)
        print(json.dumps(result))
        return 0

    from tests._servers import PostgresServer

    enable_profiling(args.profile)
    load_before = load_average()
    server = PostgresServer.launch()
    scratch = Path(tempfile.mkdtemp(prefix="archipel-bench-"))
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for round_no in range(args.rounds):
            for store, name in PLAN:
                print(f"  round {round_no + 1}/{args.rounds}: {store} {name} ...", file=sys.stderr, flush=True)
                common = ["--workload", name, "--n", str(args.n), "--batch-size", str(args.batch_size)]
                if store == "postgresql":
                    database = server.create_database(prefix="bench")
                    try:
                        result = run_workload("rebuild.py", *common, "--uri", server.url(database),
                                              "--server-pid", str(server.pid or 0))
                    finally:
                        server.drop_database(database)
                elif store == "sqlite":
                    uri = f"sqlite:///{scratch / f'{name}-{uuid.uuid4().hex[:8]}.db'}"
                    result = run_workload("rebuild.py", *common, "--uri", uri)
                else:
                    result = run_workload("rebuild.py", *common, "--uri", "memory")
                results.setdefault((store, name), []).append(result)
    finally:
        server.destroy()
        shutil.rmtree(scratch, ignore_errors=True)

    def values(key: tuple[str, str], figure: str) -> list[float]:
        return [r[figure] for r in results[key]]

    print(f"\nProjection rebuild, {args.n} events (one new row each), batches of {args.batch_size}; "
          f"median (min-max) of {args.rounds} runs")
    print(f"  {load_before} at the start, {load_average()} at the end")
    print("  rows/s is wall-clock (the machine's load moves it); CPU is microseconds per event of the")
    print("  client process (all its threads) and of the PostgreSQL server; 'ceiling' is the rate if")
    print("  each got a core of its own: 1e6 / max(client, server)")
    print(f"  {'':30} {'ev/s':>22} {'client CPU':>12} {'server CPU':>11} {'ceiling':>9}")
    for key in PLAN:
        rate = values(key, "events_per_s")
        client = statistics.median(values(key, "client_us"))
        server_us = statistics.median(values(key, "server_us"))
        ceiling = 1e6 / max(client, server_us)
        print(f"  {LABELS[key]:30} {spread(rate, ',.0f'):>22} {client:>9.2f} us {server_us:>8.2f} us "
              f"{ceiling:>9,.0f}")
    print("  archipel's client CPU per thread (us per event, median): main (decoding, projectors),")
    print("  reader (bulk read ahead: decoding), fetch (its queries), writer (COPY / executemany behind)")
    for key in PLAN:
        if key[1] == "archipel":
            threads = "  ".join(
                f"{thread} {statistics.median([r.get(f'{thread}_us', 0.0) for r in results[key]]):5.2f}"
                for thread in ("main", "reader", "fetch", "writer")
            )
            print(f"  {LABELS[key]:30} {threads}")
    for store, target, anchors in (
        ("postgresql", 100_000, ("executemany", "copy")),
        ("sqlite", 50_000, ("sqlite-executemany",)),
    ):
        rebuilt = values((store, "archipel"), "events_per_s")
        line = [f"{store}: target >= {target:,} ev/s, measured {statistics.median(rebuilt):,.0f}"]
        for anchor in anchors:
            med, low, high = ratios(rebuilt, values((store, anchor), "events_per_s"))
            line.append(f"rebuild / raw {anchor}: {med:.2f}x ({low:.2f}-{high:.2f})")
        print("  " + "; ".join(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
