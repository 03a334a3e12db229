"""Instructions per SQLite command (WAL, ``synchronous = NORMAL``), counted by callgrind: a figure load does not move.

    .venv/bin/python bench/sqlite_instructions.py [--n 300] [--only raw,floor,archipel,floor-inline,archipel-inline] [--base SRC]

Each workload runs in a process under valgrind on a fresh file: a warm-up,
then ``--n`` writes inside ``operator.call`` (callgrind collects only there,
``--toggle-collect=_operator_call``). Counted: the process's instructions in
user space, SQLite's C work included (not the kernel's ``write`` of WAL frames,
nor waits). ``bench/storage.py``'s workloads:

- ``raw``: the anchor, bare sqlite3, ``BEGIN IMMEDIATE``, a one-row ``INSERT``, ``COMMIT``;
- ``floor``: bare sqlite3 replaying the statements archipel's commands sent
  (``storage.floor_sqlite``, no projector): SQLite's share of a command;
- ``archipel``: ``domain.process`` of W1's command, no projector;
- ``floor-inline`` / ``archipel-inline``: the same with an ``inline=True`` projector.

``--base SRC`` also counts the archipel workloads with archipel imported from
SRC (another tree's ``src``, e.g. main's). Printed: instructions per command,
and archipel's above its floor (the Python around the statements).
"""

from __future__ import annotations

import argparse
import operator
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARMUP = 100


def _child(workload: str, n: int, path: str) -> None:
    if workload == "raw":
        import sqlite3

        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance integer, _version int)")

        def write(i: int) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO raw_w1 VALUES (?, ?, ?, ?)", (str(uuid.uuid4()), f"owner-{i}", 0, 0))
            conn.execute("COMMIT")

        _measure(write, n)
        return
    inline = workload.endswith("-inline")
    if workload.startswith("floor"):
        import storage

        conn, commands = storage.record_floor(WARMUP + n, path, inline=inline, projector=inline)
        replay = iter(commands)
        _measure(lambda _i: storage.replay_command(conn, next(replay)), n)
        return
    from w1_archipel import build

    database = {"provider": "sqlite", "database_uri": f"sqlite:///{path}"}
    domain, _, open_account = build(
        {"databases": {"default": database}, "event_store": {"provider": "sqlite"}},
        inline_projector=inline,
        projector=inline,
    )
    with domain.domain_context():  # type: ignore[attr-defined]
        domain.setup_database()  # type: ignore[attr-defined]
        process = domain.process  # type: ignore[attr-defined]
        _measure(lambda i: process(open_account(owner=f"owner-{i}")), n)
    domain.shutdown()  # type: ignore[attr-defined]


def _measure(write: object, n: int) -> None:
    for i in range(WARMUP):
        write(-1 - i)  # type: ignore[operator]

    def loop() -> None:
        for i in range(n):
            write(i)  # type: ignore[operator]

    operator.call(loop)


def _count(workload: str, n: int, src: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=_operator_call",
            f"--callgrind-out-file={out}", sys.executable, __file__, "--child", workload, "--n", str(n),
            "--path", str(Path(tmp) / "w1.db"), "--src", src,
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, capture_output=True, env=env)
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1]) / n
    raise RuntimeError("callgrind wrote no total")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="commands counted (default 300)")
    parser.add_argument("--only", default="raw,floor,archipel,floor-inline,archipel-inline")
    parser.add_argument("--base", metavar="SRC", help="also count archipel imported from SRC")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        # the tree's src first, before storage.py puts this tree's own in front
        sys.path[:0] = [args.src, str(HERE), str(HERE.parent)]
        import archipel.adapters.sql.flush  # noqa: F401 - bound to args.src from here on

        _child(args.child, args.n, args.path)
        return 0
    trees = [("", str(HERE.parent / "src"))] + ([("@base", args.base)] if args.base else [])
    counts: dict[str, float] = {}
    for name in args.only.split(","):
        for suffix, src in trees:
            if suffix and name == "raw":
                continue
            counts[name + suffix] = _count(name, args.n, src)
    raw = counts.get("raw")
    for name, count in counts.items():
        versus = f"  {raw / count:.2f}x the raw commit's" if raw else ""
        floor = counts.get(name.replace("archipel", "floor"))
        above = f"; {(count - floor) / 1000:.1f} k above its floor" if name.startswith("archipel") and floor else ""
        print(f"{name:>22}: {count / 1000:7.1f} k instructions per command{versus}{above}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
