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

from _harness import add_profile_flag, enable_profiling, load_average, profiled, run_workload  # noqa: E402

BATCH = 5000


def archipel(n: int, uri: str, batch_size: int) -> dict[str, float]:
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
        with profiled(f"rebuild-{label}"):
            began = time.perf_counter()
            result = domain.rebuild_projection(Catalogue, batch_size=batch_size)
            seconds = time.perf_counter() - began
        assert result.events_dispatched == n, result
        assert domain.query_for(Catalogue).count() == n
    domain.shutdown()
    return {"events_per_s": n / seconds}


def raw_pg(n: int, uri: str, how: str) -> dict[str, float]:
    import psycopg

    url = uri.replace("postgresql+psycopg://", "postgresql://")
    rows = [(str(uuid.uuid4()), f"title {i}") for i in range(n)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (book_id varchar(36) PRIMARY KEY, title varchar(200), _version int)")
        began = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            if how == "copy":
                with cur.copy("COPY t (book_id, title, _version) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row((*row, 0))
            else:
                cur.executemany("INSERT INTO t VALUES (%s, %s, 0)", rows)
        seconds = time.perf_counter() - began
    return {"events_per_s": n / seconds}


def raw_sqlite(n: int, uri: str) -> dict[str, float]:
    path = uri.split("///", 1)[1]
    rows = [(str(uuid.uuid4()), f"title {i}") for i in range(n)]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (book_id varchar(36) PRIMARY KEY, title varchar(200), _version int)")
    began = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO t VALUES (?, ?, 0)", rows)
    seconds = time.perf_counter() - began
    conn.close()
    return {"events_per_s": n / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    add_profile_flag(parser)
    args = parser.parse_args()
    if args.workload:
        if args.workload == "archipel":
            result = archipel(args.n, args.uri, args.batch_size)
        elif args.workload in ("executemany", "copy"):
            result = raw_pg(args.n, args.uri, args.workload)
        else:
            result = raw_sqlite(args.n, args.uri)
        print(json.dumps(result))
        return 0

    from tests._servers import PostgresServer

    enable_profiling(args.profile)
    load_before = load_average()

    server = PostgresServer.launch()
    scratch = Path(tempfile.mkdtemp(prefix="archipel-bench-"))
    plan = [
        ("postgresql", "archipel"), ("postgresql", "executemany"), ("postgresql", "copy"),
        ("sqlite", "archipel"), ("sqlite", "sqlite-executemany"), ("memory", "archipel"),
    ]
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for round_no in range(args.rounds):
            for store, name in plan:
                print(f"  round {round_no + 1}/{args.rounds}: {store} {name} ...", file=sys.stderr, flush=True)
                common = ["--workload", name, "--n", str(args.n), "--batch-size", str(args.batch_size)]
                if store == "postgresql":
                    database = server.create_database(prefix="bench")
                    try:
                        result = run_workload("rebuild.py", *common, "--uri", server.url(database))
                    finally:
                        server.drop_database(database)
                elif store == "sqlite":
                    uri = f"sqlite:///{scratch / f'{name}-{uuid.uuid4().hex[:8]}.db'}"
                    result = run_workload("rebuild.py", *common, "--uri", uri)
                else:
                    result = run_workload("rebuild.py", *common, "--uri", "memory")
                results.setdefault((store, name), []).append(result["events_per_s"])
    finally:
        server.destroy()
        shutil.rmtree(scratch, ignore_errors=True)

    def med(store: str, name: str) -> float:
        return statistics.median(results[(store, name)])

    print(f"\nProjection rebuild, {args.n} events (one new row each), batches of {args.batch_size}; "
          f"median of {args.rounds} runs")
    print(f"  {load_before} at the start, {load_average()} at the end")
    pg = med("postgresql", "archipel")
    print(f"  PostgreSQL archipel rebuild     {pg:>10,.0f} ev/s (target >= 100,000)")
    print(f"  PostgreSQL raw executemany      {med('postgresql', 'executemany'):>10,.0f} rows/s "
          f"(rebuild / it: {pg / med('postgresql', 'executemany'):.2f}x)")
    print(f"  PostgreSQL raw COPY             {med('postgresql', 'copy'):>10,.0f} rows/s "
          f"(rebuild / it: {pg / med('postgresql', 'copy'):.2f}x)")
    lite = med("sqlite", "archipel")
    print(f"  SQLite archipel rebuild         {lite:>10,.0f} ev/s (target >= 50,000)")
    print(f"  SQLite raw executemany          {med('sqlite', 'sqlite-executemany'):>10,.0f} rows/s "
          f"(rebuild / it: {lite / med('sqlite', 'sqlite-executemany'):.2f}x)")
    print(f"  memory archipel rebuild         {med('memory', 'archipel'):>10,.0f} ev/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
