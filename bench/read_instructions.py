"""Instructions per PostgreSQL read by id, counted by callgrind: a figure the machine's load does not move.

    .venv/bin/python bench/read_instructions.py [--n 500] [--only raw,raw-4,raw-same,archipel,archipel-uow]

Starts a PostgreSQL server on loopback, then runs each workload in a process
under valgrind: it stores ``--n`` rows (W1's aggregate, no projector), reads
each once to warm up (psycopg prepares a statement at its fifth use), then
reads each once more inside ``operator.call``; callgrind collects only there
(``--toggle-collect=_operator_call``), so set-up, writes and imports are left
out. Counted: the client's instructions in user space (the server's work, the
kernel's socket calls and the wait for the reply are not counted; they are the
same statement on the same driver for every workload).

Workloads:

- ``raw``: ``bench/storage.py``'s anchor, psycopg ``conn.execute(sql, (id,)).fetchone()``
  in autocommit (a new cursor per read) on a table of archipel's shape (5 columns);
- ``raw-4``: the same on the anchor's table before session 9 (4 columns, no ``_event_position``);
- ``raw-same``: the same call with archipel's own statement on archipel's table;
- ``archipel``: ``repository.get(id)`` outside any unit of work;
- ``archipel-uow``: ``repository.get(id)`` inside a unit of work (one per read,
  as a handler that loads one aggregate: ``BEGIN``, the read, ``ROLLBACK``).

Needs ``valgrind`` (apt). Run from the repository root; ``PYTHONPATH=<other
worktree>/src`` measures another tree.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW_SQL = "SELECT id, owner, balance, _event_position, _version FROM raw_w1 WHERE id = %s"
RAW4_SQL = "SELECT id, owner, balance, _version FROM raw_w1 WHERE id = %s"


def _domain(url: str) -> tuple[object, type, type]:
    from w1_archipel import build

    config = {"databases": {"default": {"provider": "postgresql", "database_uri": url}}}
    return build({**config, "event_store": {"provider": "postgresql"}}, projector=False)


def _raw(n: int, libpq: str, columns: int) -> None:
    import psycopg

    sql = RAW_SQL if columns == 5 else RAW4_SQL
    position = " _event_position bigint," if columns == 5 else ""
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance bigint,"
            f"{position} _version int)"
        )
        ids = [str(uuid.uuid4()) for _ in range(n)]
        for i, identity in enumerate(ids):
            conn.execute(
                "INSERT INTO raw_w1 (id, owner, balance, _version) VALUES (%s, %s, %s, %s)",
                (identity, f"owner-{i}", 0, 0),
            )
    reader = psycopg.connect(libpq, autocommit=True)
    for identity in ids:
        reader.execute(sql, (identity,)).fetchone()

    def loop() -> None:
        for identity in ids:
            reader.execute(sql, (identity,)).fetchone()

    operator.call(loop)


def _archipel(n: int, url: str, libpq: str, where: str) -> None:
    import psycopg

    domain, account_cls, open_account = _domain(url)
    with domain.domain_context():  # type: ignore[attr-defined]
        domain.setup_database()  # type: ignore[attr-defined]
        ids = [domain.process(open_account(owner=f"owner-{i}")) for i in range(n)]  # type: ignore[attr-defined]
        repo = domain.repository_for(account_cls)  # type: ignore[attr-defined]
        if where == "raw-same":
            from archipel.adapters.sql.records import PK_PARAM

            database = domain.providers.database("default")  # type: ignore[attr-defined]
            sql = database.record_table(repo.schema).select_sql
            named = "%(" in sql  # before session 9 the statement had a named placeholder
            reader = psycopg.connect(libpq, autocommit=True)

            def read(identity: object) -> None:
                reader.execute(sql, {PK_PARAM: identity} if named else (identity,)).fetchone()

        elif where == "uow":
            run = domain.run_in_unit_of_work  # type: ignore[attr-defined]

            def read(identity: object) -> None:
                run(lambda _uow: repo.get(identity))

        else:
            read = repo.get
        for identity in ids:
            read(identity)

        def loop() -> None:
            for identity in ids:
                read(identity)

        operator.call(loop)
    domain.shutdown()  # type: ignore[attr-defined]


def _count(workload: str, n: int, url: str, libpq: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=_operator_call",
            f"--callgrind-out-file={out}", sys.executable, __file__, "--child", workload, "--n", str(n),
            "--uri", url, "--libpq", libpq,
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, capture_output=True, env=env)
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1]) / n
    raise RuntimeError("callgrind wrote no total")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="reads counted (default 500)")
    parser.add_argument("--only", default="raw,raw-4,raw-same,archipel,archipel-uow", help="workloads")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--libpq", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    if args.child in ("raw", "raw-4"):
        _raw(args.n, args.libpq, 5 if args.child == "raw" else 4)
        return 0
    if args.child:
        where = {"archipel": "outside", "archipel-uow": "uow", "raw-same": "raw-same"}[args.child]
        _archipel(args.n, args.uri, args.libpq, where)
        return 0
    from tests._servers import PostgresServer

    server = PostgresServer.launch()
    counts: dict[str, float] = {}
    try:
        for name in args.only.split(","):
            database = server.create_database(prefix="reads")
            try:
                counts[name] = _count(name, args.n, server.url(database), server.libpq_url(database))
            finally:
                server.drop_database(database)
    finally:
        server.destroy()
    base = counts.get("raw")
    for name, count in counts.items():
        versus = f"  {count / base:.2f}x the anchor's" if base else ""
        print(f"{name:>13}: {count / 1000:7.1f} k instructions per read{versus}")
    print(json.dumps({k: round(v) for k, v in counts.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
