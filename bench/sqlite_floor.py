"""What a W1 command's floor on SQLite writes, B-tree by B-tree, and what storing less would save.

    .venv/bin/python bench/sqlite_floor.py [--n 3000] [--rounds 3]

``storage.py``'s floor (bare sqlite3 replaying the statements archipel's command sent,
:func:`storage.record_floor`) costs ~4x the raw one-row commit. This shows why:

- the WAL frames each commit writes (checkpoints off, the WAL read back), counted per
  B-tree (``dbstat``): every B-tree a command touches costs at least a 4 KiB frame
  and a ``pwrite`` of it (two system calls per frame: header and page);
- the CPU (user and system) and the write system calls (``/proc/self/io``) per command of
  the floor and of variants that store less than archipel does, on fresh files,
  alternating within each round, next to the raw one-row commit (``storage.raw_sqlite``):
  ``nocorr`` (no ``correlation_id`` index: the observatory's trace would scan the log),
  ``slim`` (the ``metadata`` JSON without the fields that have their own columns: another
  stored format), ``nocmd`` (the command not recorded in the event store: not Protean's
  ``process``), ``p2048`` (2 KiB pages).

The variants are measurements, not options: each drops something archipel promises
(bench/README.md, session 16).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from storage import Commits, record_floor, replay_command  # noqa: E402

WARMUP = 200
PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "wal_autocheckpoint=10000", "foreign_keys=ON")
#: metadata fields stored in columns of their own too
DUPLICATED = ("id", "type", "kind", "stream", "time", "position", "global_position", "correlation_id", "causation_id")


def _events_insert(commands: list[Commits], change: Callable[[str, list[object]], tuple[str, list[object]]]) -> list[Commits]:
    return [
        [
            [(*change(sql, list(params)), many) if sql.startswith("INSERT INTO archipel_events") else (sql, params, many)  # type: ignore[arg-type]
             for sql, params, many in lease]
            for lease in command
        ]
        for command in commands
    ]


def _slim(sql: str, params: list[object]) -> tuple[str, list[object]]:
    for k in range(0, len(params), 11):
        meta = json.loads(str(params[k + 9]))
        for name in DUPLICATED:
            meta.pop(name, None)
        params[k + 9] = json.dumps(meta, separators=(",", ":"))
    return sql, params


def _no_command(sql: str, params: list[object]) -> tuple[str, list[object]]:
    start = sql.index("VALUES (") + 7
    row = sql[start : sql.index(")", start) + 1]
    return f"{sql[:start]}{row} ON CONFLICT (message_id) DO NOTHING", params[11:]


def _io() -> tuple[int, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines() if line)
    return int(fields["syscw"]), int(fields["wchar"])


def _measure(run: Callable[[int], None], n: int) -> dict[str, float]:
    r0, t0, i0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), _io()
    for i in range(n):
        run(i)
    r1, t1, i1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), _io()
    return {
        "user": (r1.ru_utime - r0.ru_utime) / n * 1e6,
        "sys": (r1.ru_stime - r0.ru_stime) / n * 1e6,
        "wall": (t1 - t0) / n * 1e6,
        "writes": (i1[0] - i0[0]) / n,
        "bytes": (i1[1] - i0[1]) / n,
    }


def _fresh(template: Path, path: Path, drop: tuple[str, ...] = (), page: int | None = None) -> sqlite3.Connection:
    if page is None:
        shutil.copy(template, path)
        conn = sqlite3.connect(path, isolation_level=None)
    else:  # the same schema on pages of another size
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(f"PRAGMA page_size={page}")
        with sqlite3.connect(template) as source:
            for (sql,) in source.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"):
                conn.execute(sql)
    for statement in drop:
        conn.execute(statement)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    return conn


def frames_per_btree(template: Path, path: Path, commands: list[Commits]) -> tuple[float, dict[str, float]]:
    """WAL frames per commit, in all and per B-tree (page 1: ``sqlite_schema``)."""
    conn = _fresh(template, path)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    for command in commands[:WARMUP]:
        replay_command(conn, command)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for command in commands[WARMUP:]:
        replay_command(conn, command)
    owner = dict(conn.execute("SELECT pageno, name FROM dbstat").fetchall())
    wal = Path(f"{path}-wal").read_bytes()  # before the close checkpoints it away
    conn.close()
    page_size = struct.unpack(">I", wal[8:12])[0]
    counts: collections.Counter[str] = collections.Counter()
    commits = frames = 0
    for offset in range(32, len(wal) - 24 - page_size + 1, 24 + page_size):
        page, size_after = struct.unpack(">II", wal[offset : offset + 8])
        counts[owner.get(page, "?")] += 1
        frames += 1
        commits += size_after != 0
    return frames / commits, {name: count / commits for name, count in counts.most_common()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.n
    print(f"load average {os.getloadavg()} on {os.cpu_count()} cores", flush=True)
    work = Path(tempfile.mkdtemp(prefix="sqlite-floor-"))
    try:
        conn, commands = record_floor(n + WARMUP, str(work / "template.db"))
        conn.close()
        template = work / "template.db"
        total, per_tree = frames_per_btree(template, work / "frames.db", commands)
        print(f"\nWAL frames per command (floor, checkpoints off): {total:.2f}")
        for name, count in per_tree.items():
            print(f"  {count:5.2f}  {name}")
        drop_corr = ("DROP INDEX archipel_events_correlation_idx",)
        variants: dict[str, tuple[tuple[str, ...], list[Commits], int | None]] = {
            "floor": ((), commands, None),
            "nocorr": (drop_corr, commands, None),
            "slim": ((), _events_insert(commands, _slim), None),
            "nocmd": ((), _events_insert(commands, _no_command), None),
            "p2048": ((), commands, 2048),
        }
        results: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
        for round_ in range(args.rounds):
            for name in ("raw", *variants):
                path = work / f"{name}-{round_}.db"
                if name == "raw":
                    conn = sqlite3.connect(path, isolation_level=None)
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.execute("CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance integer, _version int)")
                    ids = [str(uuid.uuid4()) for _ in range(n + WARMUP)]

                    def write(i: int, conn: sqlite3.Connection = conn, ids: list[str] = ids) -> None:
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute("INSERT INTO raw_w1 VALUES (?, ?, ?, ?)", (ids[i], f"owner-{i}", 0, 0))
                        conn.execute("COMMIT")

                    for i in range(WARMUP):
                        write(n + i)
                    results[name].append(_measure(write, n))
                else:
                    drop, replayed, page = variants[name]
                    conn = _fresh(template, path, drop, page)
                    for command in replayed[:WARMUP]:
                        replay_command(conn, command)
                    timed = replayed[WARMUP:]
                    results[name].append(_measure(lambda i, c=conn, t=timed: replay_command(c, t[i]), n))
                conn.close()
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        print(f"\nper command, medians of {args.rounds} rounds (N = {n}); CPU = user + system")
        raw_cpu = [r["user"] + r["sys"] for r in results["raw"]]
        for name, runs in results.items():
            cpu = [r["user"] + r["sys"] for r in runs]
            ratio = statistics.median(a / b for a, b in zip(raw_cpu, cpu, strict=True))
            med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            print(
                f"  {name:7s} CPU {statistics.median(cpu):6.1f} us (user {med['user']:5.1f}, sys {med['sys']:5.1f})"
                f"  raw/this {ratio:4.2f}  write calls {med['writes']:5.1f}  {med['bytes'] / 1024:5.1f} KiB"
            )
        print(f"load average {os.getloadavg()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
