"""Instructions per W1 command in memory, counted by callgrind: a figure the machine's load does not move.

    .venv/bin/python bench/w1_instructions.py [--n 1000] [--fixed-ms] [--cycles] [--noproj] [--only archipel,es-save]
    .venv/bin/python bench/w1_instructions.py --noproj --only raw-sqlite,floor-sqlite,archipel-sqlite
    .venv/bin/python bench/w1_instructions.py --fixed-ms --n 300 --only raw-pg,archipel-pg,archipel-pg-inline
    .venv/bin/python bench/w1_instructions.py --fixed-ms --outbox --only archipel-sqlite,archipel-pg

Each workload warms up (300 commands), then runs ``--n`` commands inside
``operator.call``; valgrind collects only there (``--toggle-collect=_operator_call``),
so start-up and imports are left out. ``--fixed-ms`` pins the clock that
time-ordered message ids read: under callgrind (~50x slower) every id starts a
new millisecond and formats its text, which a real run does once per ~25
commands (about 8 k instructions per W1 command; eventsourcing's uuid4 ids have
no such cost). On SQLite it makes that clock step 40 us per read instead of
stopping it: ids that all share one instant are in random order, and SQLite
then writes each one on a random page of two indexes (~+17 % WAL frames per
command, bench/README.md session 13). Needs ``valgrind`` (apt) and, for ``es-save``, the ``bench`` extra.
``es-save-cached``: es-save with ``typing._get_protocol_attrs`` cached; on Python 3.11
its two runtime-``Protocol`` ``isinstance`` checks per save are ~140 k instructions that
run twice as fast per instruction as interpreted code, so the ``es-save`` ratio
overstates the ratio of times (``bench/w1_cpu.py``; bench/README.md, session 12).

On SQLite (a file, WAL, ``synchronous = NORMAL``; ``bench/storage.py``'s
contenders): ``archipel-sqlite`` is W1 on archipel, ``floor-sqlite`` bare
sqlite3 replaying the statements archipel sent (``storage.record_floor``),
``raw-sqlite`` the anchor's one-row commit. Only user-space instructions are
counted: the kernel's share (a commit's WAL writes, two ``pwrite`` calls per
page) is not, and it is about half of a SQLite commit's CPU time here.
Run from the repository root; ``PYTHONPATH=<other worktree>/src`` measures another tree.
"""

from __future__ import annotations

import argparse
import itertools
import operator
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _archipel(
    n: int, projector: bool, fixed_ms: bool, sqlite_path: str | None = None, access: str = "",
    postgres_uri: str | None = None, inline: bool = False, outbox: bool = False,
) -> None:
    from w1_archipel import build

    if fixed_ms:
        import archipel.fields.identity as identity

        if sqlite_path is None and postgres_uri is None:
            identity._time_ns = lambda: 1_764_000_000_000_123_456  # one millisecond for every id
        else:
            # on a database the ids' order matters (a random message id or correlation id
            # lands on a random index page: more pages per commit than a real run writes,
            # and than the floor, recorded at the real clock): a clock that steps 40 us per
            # read, so ids keep their order and the millisecond's text changes every 25 ids
            clock = itertools.count(1_764_000_000_000_123_456, 40_000)
            identity._time_ns = clock.__next__
    config = None
    if sqlite_path is not None:
        database = {"provider": "sqlite", "database_uri": f"sqlite:///{sqlite_path}"}
        config = {"databases": {"default": database}, "event_store": {"provider": "sqlite"}}
    if postgres_uri is not None:
        database = {"provider": "postgresql", "database_uri": postgres_uri}
        config = {"databases": {"default": database}, "event_store": {"provider": "postgresql"}}
    if access == "timed":  # Protean's default logging: every statement timed for the slow-query log
        config = {
            **(config or {}),
            "logging": {"slow_query_threshold_ms": 100, "per_logger": {"archipel.access": "WARNING"}},
        }
    if outbox:  # each event also gets an outbox row, in the command's commit (no relay runs)
        config = {**(config or {}), "enable_outbox": True}
    if access == "json":  # every handler's wide event, rendered as JSON to stderr (the parent discards it)
        config = {**(config or {}), "logging": {"format": "json", "per_logger": {"archipel.access": "INFO"}}}
    elif access == "dropped":  # built and handed to logging, whose handler (WARNING) drops it
        config = {**(config or {}), "logging": {"level": "WARNING", "per_logger": {"archipel.access": "INFO"}}}
    domain, _, open_account = build(config, projector=projector, inline_projector=inline)
    with domain.domain_context():
        domain.setup_database()
        process = domain.process
        for i in range(300):
            process(open_account(owner=f"warm-{i}"))

        def loop() -> None:
            for i in range(n):
                process(open_account(owner=f"owner-{i}"))

        operator.call(loop)


def _es_save(n: int, cached_protocols: bool = False) -> None:
    os.environ.setdefault("PERSISTENCE_MODULE", "eventsourcing.popo")
    if cached_protocols:  # as Python 3.12 does: bench/README.md, session 12 (s12-mem)
        import functools
        import typing

        typing._get_protocol_attrs = functools.cache(typing._get_protocol_attrs)  # type: ignore[attr-defined]
    from w1_eventsourcing import Accounts

    app = Accounts()
    summaries: dict[object, dict[str, str]] = {}
    counter = {"opened": 0}
    for i in range(300):
        app.open(f"warm-{i}")

    def loop() -> None:
        for i in range(n):  # as w1_eventsourcing.main: save, then the handler and the projector
            account = app.open(f"owner-{i}")
            counter["opened"] += 1
            summaries[account.id] = {"owner": account.owner}

    operator.call(loop)


def _floor_sqlite(n: int, projector: bool, path: str) -> None:
    from storage import WARMUP, record_floor, replay_command

    conn, commands = record_floor(WARMUP + n, path, projector=projector)
    for commits in commands[:WARMUP]:
        replay_command(conn, commits)

    def loop() -> None:
        for commits in commands[WARMUP:]:
            replay_command(conn, commits)

    operator.call(loop)


def _raw_sqlite(n: int, path: str) -> None:
    import sqlite3
    import uuid

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance integer, _version int)"
    )

    def write(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO raw_w1 VALUES (?, ?, ?, ?)", (str(uuid.uuid4()), f"owner-{i}", 0, 0))
        conn.execute("COMMIT")

    for i in range(300):
        write(-1 - i)

    def loop() -> None:
        for i in range(n):
            write(i)

    operator.call(loop)


def _raw_pg(n: int, libpq: str) -> None:
    import uuid

    import psycopg

    conn = psycopg.connect(libpq)
    conn.execute(  # storage.py's anchor: the shape of archipel's table for W1's aggregate
        "CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance bigint,"
        " _event_position bigint, _version int)"
    )
    conn.commit()

    def write(i: int) -> None:
        conn.execute("INSERT INTO raw_w1 VALUES (%s, %s, %s, NULL, %s)", (str(uuid.uuid4()), f"owner-{i}", 0, 0))
        conn.commit()

    for i in range(300):
        write(-1 - i)

    def loop() -> None:
        for i in range(n):
            write(i)

    operator.call(loop)


def _count(workload: str, args: argparse.Namespace) -> float:
    if "-pg" in workload and not os.environ.get("W1_PG_URI"):  # a throwaway server, this run
        sys.path.insert(0, str(HERE.parent))
        from tests._servers import PostgresServer

        server = PostgresServer.launch()
        database = server.create_database(prefix="w1i")
        os.environ["W1_PG_URI"], os.environ["W1_PG_LIBPQ"] = server.url(database), server.libpq_url(database)
        try:
            return _count(workload, args)
        finally:
            del os.environ["W1_PG_URI"], os.environ["W1_PG_LIBPQ"]
            server.destroy()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=_operator_call",
            f"--callgrind-out-file={out}", sys.executable, __file__, "--child", workload, "--n", str(args.n),
        ]
        if args.cycles:
            command[2:2] = ["--cache-sim=yes", "--branch-sim=yes"]
        command += ["--fixed-ms"] if args.fixed_ms else []
        command += ["--noproj"] if args.noproj else []
        command += ["--outbox"] if args.outbox else []
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        events: list[str] = []
        for line in out.read_text().splitlines():
            if line.startswith("events:"):
                events = line.split()[1:]
            if line.startswith(("summary:", "totals:")):
                totals = dict(zip(events, (int(value) for value in line.split()[1:]), strict=False))
                if not args.cycles:
                    return totals["Ir"] / args.n
                l1 = sum(totals.get(name, 0) for name in ("I1mr", "D1mr", "D1mw"))
                ll = sum(totals.get(name, 0) for name in ("ILmr", "DLmr", "DLmw"))
                mispredicts = totals.get("Bcm", 0) + totals.get("Bim", 0)
                return (totals["Ir"] + 10 * (l1 + mispredicts) + 100 * ll) / args.n
    raise RuntimeError("callgrind wrote no total")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="commands counted (default 1000)")
    parser.add_argument("--fixed-ms", action="store_true", help="one clock millisecond for every message id")
    parser.add_argument(
        "--cycles", action="store_true",
        help="callgrind's cycle estimate (cache and branch simulation): Ir + 10 per L1 miss and mispredict + 100 per LL miss",
    )
    parser.add_argument("--noproj", action="store_true", help="archipel without its projector")
    parser.add_argument("--outbox", action="store_true", help="archipel with enable_outbox: an outbox row per event")
    parser.add_argument(
        "--only",
        default="archipel,es-save",
        help="workloads: archipel, archipel-access (Protean's access events on, JSON lines), "
        "archipel-access-dropped (on, dropped by the WARNING handler), es-save, "
        "es-save-cached (typing's runtime-Protocol checks cached, as Python 3.12 does), "
        "archipel-sqlite, archipel-sqlite-timed (statements timed for the slow-query log), floor-sqlite, raw-sqlite; "
        "on PostgreSQL (a throwaway server, fsync on; the client's instructions only): archipel-pg "
        "(W1 with its sync projector; --noproj: without), archipel-pg-inline, archipel-pg-timed (statements timed "
        "for the slow-query log), raw-pg (storage.py's anchor)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.child in ("archipel", "archipel-access", "archipel-access-dropped"):
        access = {"archipel-access": "json", "archipel-access-dropped": "dropped"}.get(args.child, "")
        _archipel(args.n, not args.noproj, args.fixed_ms, access=access, outbox=args.outbox)
        return 0
    if args.child in ("archipel-pg", "archipel-pg-inline", "archipel-pg-timed"):
        _archipel(
            args.n, not args.noproj, args.fixed_ms, postgres_uri=os.environ["W1_PG_URI"],
            inline=args.child == "archipel-pg-inline", outbox=args.outbox,
            access="timed" if args.child == "archipel-pg-timed" else "",
        )
        return 0
    if args.child == "raw-pg":
        _raw_pg(args.n, os.environ["W1_PG_LIBPQ"])
        return 0
    if args.child in ("es-save", "es-save-cached"):
        _es_save(args.n, cached_protocols=args.child == "es-save-cached")
        return 0
    if args.child in ("archipel-sqlite", "archipel-sqlite-timed", "floor-sqlite", "raw-sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "w1.db")
            if args.child.startswith("archipel-sqlite"):
                timed = "timed" if args.child == "archipel-sqlite-timed" else ""
                _archipel(args.n, not args.noproj, args.fixed_ms, path, access=timed, outbox=args.outbox)
            elif args.child == "floor-sqlite":
                _floor_sqlite(args.n, not args.noproj, path)
            else:
                _raw_sqlite(args.n, path)
        return 0
    counts = {name: _count(name, args) for name in args.only.split(",")}
    for name, count in counts.items():
        unit = "estimated cycles" if args.cycles else "instructions"
        print(f"{name:>15}: {count / 1000:8.1f} k {unit} per command")
    if "archipel" in counts and "es-save" in counts:
        print(f"es-save / archipel: {counts['es-save'] / counts['archipel']:.2f}x (target >= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
