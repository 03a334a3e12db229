"""The anchor of a batch's commit: what PostgreSQL alone takes to commit an engine-sized batch.

    python bench/raw_batch.py [--rows 200] [--seconds 3] [--clients 1,4]

No engine, no archipel: psycopg clients (threads, one connection each: while
one waits for PostgreSQL the others run) each commit, again and again, one
statement shaped as the engine's batch (``adapters/sql/batch_statement.py``):
``--rows`` projection rows and as many processed records, inserted from
arrays, and a one-row fenced update of the client's own lease row. Prints per
client count the commits/s, the wall time of a commit (median, 90th
percentile), the WAL bytes per commit and the WAL flushes per commit
(``pg_stat_wal``), and the share of the sampled busy backends' wait events.
On a shared machine compare the client counts of one run, not runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETUP = """
CREATE TABLE summary (account_id varchar(255) PRIMARY KEY, owner varchar(50), opened_at double precision,
                      _version integer NOT NULL);
CREATE TABLE processed (subscription varchar(255), message_id varchar(255), processed_at double precision,
                        PRIMARY KEY (subscription, message_id));
CREATE TABLE leases (id varchar(255) PRIMARY KEY, owner varchar(255), expires_at double precision,
                     _version integer NOT NULL);
"""
BATCH = """
WITH p AS (INSERT INTO processed SELECT 'Projector', u.m, %(at)s FROM unnest(%(m)s::varchar[]) AS u(m)),
     s AS (INSERT INTO summary SELECT * FROM unnest(%(ids)s::varchar[], %(owners)s::varchar[],
                                                     %(times)s::float8[], %(versions)s::int[])),
     f AS (UPDATE leases SET expires_at = %(at)s, _version = _version + 1
           WHERE id = %(lease)s AND _version = %(version)s RETURNING 1)
SELECT 1 / (SELECT count(*) FROM f)
"""


def main() -> int:
    import psycopg
    from tests._servers import PostgresServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", default="1,4")
    args = parser.parse_args()
    pg = PostgresServer.launch(settings={"track_wal_io_timing": "on"})
    try:
        url = pg.url(pg.create_database(prefix="rawbatch")).replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SETUP)
        for clients in [int(c) for c in args.clients.split(",")]:
            print(run(url, clients, args.rows, args.seconds), flush=True)
    finally:
        pg.destroy()
    return 0


def run(url: str, clients: int, rows: int, seconds: float) -> str:
    import psycopg

    walls: list[float] = []
    waits: dict[str, int] = {}
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(number: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            lease = f"lease-{clients}-{number}"
            conn.execute("INSERT INTO leases VALUES (%s, 'me', 0, 0)", (lease,))
            version, batch = 0, 0
            while time.monotonic() < stop:
                ids = [f"{lease}-{batch}-{n}" for n in range(rows)]
                params = {"at": time.time(), "m": ids, "ids": ids, "owners": ["owner"] * rows,
                          "times": [time.time()] * rows, "versions": [0] * rows, "lease": lease,
                          "version": version}
                started = time.perf_counter()
                conn.execute(BATCH, params)
                with lock:
                    walls.append(time.perf_counter() - started)
                version += 1
                batch += 1

    def sample() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < stop:
                for (event,) in conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity "
                    "WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                ):
                    waits[event] = waits.get(event, 0) + 1
                time.sleep(0.005)

    with psycopg.connect(url, autocommit=True) as conn:
        before = conn.execute("SELECT wal_bytes, wal_sync, wal_sync_time FROM pg_stat_wal").fetchone()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        threads.append(threading.Thread(target=sample))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = conn.execute("SELECT wal_bytes, wal_sync, wal_sync_time FROM pg_stat_wal").fetchone()
    commits = len(walls)
    total = sum(waits.values()) or 1
    shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(waits.items(), key=lambda kv: -kv[1])[:4])
    walls.sort()
    return (f"{clients} client(s), {rows} rows a batch: {commits / seconds:.0f} commits/s "
            f"({commits * rows / seconds:.0f} rows/s), commit {1e3 * statistics.median(walls):.2f} ms median, "
            f"{1e3 * walls[int(0.9 * len(walls))]:.2f} p90; WAL {(after[0] - before[0]) / commits / 1024:.0f} kB "
            f"and {(after[1] - before[1]) / commits:.2f} flushes a commit, fsync {(after[2] - before[2]) / max(1, after[1] - before[1]):.2f} ms "
            f"a flush; busy backends: {shares}")


if __name__ == "__main__":
    raise SystemExit(main())
