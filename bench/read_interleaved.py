"""PostgreSQL read by id, archipel and the raw anchor interleaved in one process: a ratio load moves little.

    .venv/bin/python bench/read_interleaved.py [--n 2000] [--blocks 40] [--base /tmp/main/src]

``bench/storage.py`` times each contender in its own process, one after the
other: on a crowded machine a round's read ratio swings 0.5-3x. Here one
process stores ``--n`` W1 aggregates (no projector) and the same rows in the
anchor's table (``bench/storage.py``'s raw anchor: psycopg
``connection.execute(...).fetchone()`` in autocommit on a table of archipel's
shape), then reads them in alternating blocks (archipel's ``repository.get``,
then the anchor, ``--blocks`` times each): both meet the same scheduler and
the same neighbours. Printed: wall time and this thread's CPU time per read
(medians over the blocks), and anchor / archipel ratios (above 1: archipel
is faster). ``--base SRC`` runs the same in a second process with archipel
imported from SRC (e.g. main's ``src``), alternating with this tree's.

``--pin CLIENT,SERVER`` pins the reading process and the PostgreSQL server to
CPUs (``0,1``: always on other cores; ``0,0``: one core). Unpinned, each
reader's connection has its own backend, and the scheduler decides for each
whether it runs on the reader's core: a reader whose backend shares its core
is preempted until the answer is there and never sleeps in ``poll``; the
other sleeps and wakes at every read (~20-40 µs of system time). Which reader
gets which is luck, and it moves the ratio 0.3-1.1x (session 10). Pinned,
both readers meet the same scheduling.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW_SQL = "SELECT id, owner, balance, _event_position, _version FROM raw_w1 WHERE id = %s"


def _child(n: int, blocks: int, url: str, libpq: str) -> dict[str, float]:
    import psycopg
    from w1_archipel import build

    config = {"databases": {"default": {"provider": "postgresql", "database_uri": url}}}
    domain, account_cls, open_account = build(
        {**config, "event_store": {"provider": "postgresql"}}, projector=False
    )
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance bigint,"
            " _event_position bigint, _version int)"
        )
        raw_ids = [str(uuid.uuid4()) for _ in range(n)]
        for i, identity in enumerate(raw_ids):
            conn.execute(
                "INSERT INTO raw_w1 VALUES (%s, %s, %s, NULL, %s)", (identity, f"owner-{i}", 0, 0)
            )
    reader = psycopg.connect(libpq, autocommit=True)
    walls: dict[str, list[float]] = {"archipel": [], "raw": []}
    cpus: dict[str, list[float]] = {"archipel": [], "raw": []}
    with domain.domain_context():  # type: ignore[attr-defined]
        domain.setup_database()  # type: ignore[attr-defined]
        ids = [domain.process(open_account(owner=f"owner-{i}")) for i in range(n)]  # type: ignore[attr-defined]
        get = domain.repository_for(account_cls).get  # type: ignore[attr-defined]

        def archipel(chunk: list[str]) -> None:
            for identity in chunk:
                get(identity)

        def raw(chunk: list[str]) -> None:
            for identity in chunk:
                reader.execute(RAW_SQL, (identity,)).fetchone()

        size = max(n // blocks, 1)
        archipel(ids[:100])  # warm-up: psycopg prepares at the fifth use
        raw(raw_ids[:100])
        for block in range(blocks):
            start = (block * size) % n
            for name, read, keys in (("archipel", archipel, ids), ("raw", raw, raw_ids)):
                chunk = keys[start : start + size]
                wall, cpu = time.perf_counter(), time.thread_time()
                read(chunk)
                cpus[name].append((time.thread_time() - cpu) / len(chunk) * 1e6)
                walls[name].append((time.perf_counter() - wall) / len(chunk) * 1e6)
    domain.shutdown()  # type: ignore[attr-defined]
    return {
        "archipel_wall_us": statistics.median(walls["archipel"]),
        "raw_wall_us": statistics.median(walls["raw"]),
        "archipel_cpu_us": statistics.median(cpus["archipel"]),
        "raw_cpu_us": statistics.median(cpus["raw"]),
        "wall_ratio": statistics.median(r / a for a, r in zip(walls["archipel"], walls["raw"], strict=True)),
        "cpu_ratio": statistics.median(r / a for a, r in zip(cpus["archipel"], cpus["raw"], strict=True)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="rows of each kind (default 2000)")
    parser.add_argument("--blocks", type=int, default=40, help="alternating blocks of reads each")
    parser.add_argument("--runs", type=int, default=3, help="processes per tree (default 3)")
    parser.add_argument("--base", metavar="SRC", help="also run with archipel imported from SRC")
    parser.add_argument(
        "--pin", metavar="CLIENT,SERVER",
        help="pin the reading process and PostgreSQL to these CPUs (e.g. 0,1 or 0,0): the same "
        "scheduling for both readers (unpinned, whichever reader's backend shares its core "
        "never sleeps in poll, the other does at every read)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--libpq", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    if args.child:
        print(json.dumps(_child(args.n, args.blocks, args.uri, args.libpq)))
        return 0
    from _harness import load_average
    from tests._servers import PostgresServer

    trees = [("branch", str(HERE.parent / "src"))] + ([("base", args.base)] if args.base else [])
    print(f"start: {load_average()}" + (f"; pinned: reader on CPU {args.pin.split(',')[0]}, PostgreSQL on CPU {args.pin.split(',')[1]}" if args.pin else ""))
    server = PostgresServer.launch()
    client_cpus: set[int] | None = None
    if args.pin:
        client_cpu, server_cpu = (int(x) for x in args.pin.split(","))
        client_cpus = {client_cpu}
        for pid in server.process_ids():  # backends forked later inherit the postmaster's CPUs
            with contextlib.suppress(ProcessLookupError):  # a server process that ended since
                os.sched_setaffinity(pid, {server_cpu})
    results: dict[str, list[dict[str, float]]] = {}
    try:
        for _ in range(args.runs):
            for label, src in trees:
                database = server.create_database(prefix="interleaved")
                try:
                    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(HERE.parent)])}
                    command = [
                        sys.executable, __file__, "--child", "--n", str(args.n), "--blocks", str(args.blocks),
                        "--uri", server.url(database), "--libpq", server.libpq_url(database),
                    ]
                    out = subprocess.run(
                        command, check=True, capture_output=True, text=True, env=env,
                        preexec_fn=(lambda: os.sched_setaffinity(0, client_cpus)) if client_cpus else None,  # noqa: PLW1509
                    )
                    results.setdefault(label, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
                finally:
                    server.drop_database(database)
    finally:
        server.destroy()
    print(f"end: {load_average()}")
    print("per read, medians over blocks; ratios anchor / archipel (>= 0.9 is the target), per run")
    for label, runs in results.items():
        def cell(key: str, runs: list[dict[str, float]] = runs) -> str:
            return " ".join(f"{run[key]:.2f}" if "ratio" in key else f"{run[key]:.1f}" for run in runs)

        print(
            f"  {label:<6} wall ratio {cell('wall_ratio')} | CPU ratio {cell('cpu_ratio')} | "
            f"CPU us archipel {cell('archipel_cpu_us')} raw {cell('raw_cpu_us')}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
