"""Storage benchmark (W1 on real databases): archipel vs the raw driver commit vs the peers.

W1 (as in ``bench/core.py``): N commands, each creating an aggregate that
raises one event; then N loads by id. archipel runs it three ways:

- ``archipel-noproj``: no projector: the aggregate row, the command and the
  event in one transaction (one statement on PostgreSQL);
- ``archipel-inline``: plus an ``inline=True`` projector, whose row commits
  in the same transaction;
- ``archipel``: the full W1 of ``bench/core.py``, an event handler and an
  ordinary synchronous projector (its own unit of work: a second commit);
- ``archipel-outbox`` (``archipel-sqlite-outbox``): W1 with ``enable_outbox``,
  an outbox row per event in the command's commit (no relay runs).

PostgreSQL, on a throwaway server started here (``tests/_servers.py``) with
PostgreSQL's default durability (``fsync`` and ``synchronous_commit`` on):

- ``raw``: the anchor, psycopg 3, one single-row ``INSERT`` per transaction
  (``BEGIN``, ``INSERT``, ``COMMIT``); reads are ``SELECT`` by primary key
  (``connection.execute(...).fetchone()`` in autocommit), on a table of the
  shape of archipel's (the same five columns; session 9 added the fifth,
  ``_event_position``, which archipel's table has and the anchor lacked).
- ``es``: ``eventsourcing`` 9.5.6 on ``eventsourcing.postgres``, the same workload
  with its own machinery (a ``System``: the leader application plus two follower
  process applications for the handler and the projector, which record their
  tracking positions durably, under the ``SingleThreadedRunner``).
- ``es-save``: eventsourcing saving the aggregate only (handler and projector are
  plain in-memory calls): its floor, less work than W1 asks.
- ``protean``: ``protean`` 0.18 with its ``postgresql`` provider (at a smaller N:
  it runs at tens of commands per second).

SQLite (a file in a temporary directory, WAL; archipel with its defaults,
``wal_autocheckpoint = 10000``): ``raw-sqlite-normal`` (the
anchor of archipel's default ``synchronous = NORMAL``) and ``raw-sqlite``
(``FULL``, an fsync per commit: eventsourcing's setting and the anchor of
``archipel-sqlite-full``); ``es-sqlite`` and ``es-save-sqlite`` run ``FULL``.
``floor-sqlite-noproj``, ``floor-sqlite-inline`` and ``floor-sqlite``: bare
sqlite3 replaying the statements the matching archipel workload sent (see
:func:`floor_sqlite`); the report's ``floor:`` lines give archipel over it.

PostgreSQL read by id (the target's figure): ``reads``, run in every round
with ``archipel-noproj`` (``--no-interleaved-reads``: not), is one process
where archipel's ``repository.get`` and the raw anchor's ``SELECT`` read the
same rows in alternating blocks of 50, the raw one both on archipel's
connection (the same PostgreSQL backend: the same scheduling) and on its own
(``bench/pg_reads.py``). The reads/s of the main table are each contender's
own process, whose backend the scheduler runs on the reader's core or the
other one for the whole run: a 0.5-4x luck no code changes.

Each workload runs in a fresh interpreter on a fresh database; contenders
alternate within each round so that machine noise hits all alike; every
ratio is computed per round against the anchor of the same round and
reported as the median (lowest-highest). Every workload warms up first.

    python bench/storage.py                  # N = 2000, 3 rounds
    python bench/storage.py --quick          # N = 500, 1 round
    python bench/storage.py --only raw,archipel-noproj --rounds 5
    python bench/storage.py --profile prof/  # pyinstrument report per workload run
    python bench/storage.py --only raw,archipel-noproj --base /tmp/main/src  # A/B in each round

Targets (issue 16): against the raw commit of the same round, PostgreSQL
>= 0.85x with no projector and with an inline projector, >= 0.45x with a
synchronous projector (two commits: the floor is 0.5x); SQLite (NORMAL)
>= 0.8x; PostgreSQL read by id >= 0.9x a raw ``SELECT``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# archipel from ``--base``'s tree when run_workload says so (it used to be this tree's
# whatever --base said: rows marked [base] before session 13 ran this tree's code)
sys.path[:0] = [str(HERE), str(ROOT), os.environ.get("ARCHIPEL_BENCH_SRC", str(ROOT / "src"))]

from _harness import (  # noqa: E402
    add_profile_flag,
    enable_profiling,
    load_average,
    profiled,
    ratios,
    run_workload,
)

WARMUP = 50
#: the suffix of a contender's results when run with ``--base``'s code
BASE = "@base"
Result = dict[str, float]


def timed(
    writes: Callable[[int], object], reads: Callable[[object], object], n: int, label: str = "run"
) -> Result:
    """Run ``writes(i)`` n times (after a warm-up), then ``reads`` on what they returned."""
    for i in range(WARMUP):
        reads(writes(-1 - i))
    with profiled(f"{label}-write"):
        started, cpu = time.perf_counter(), time.process_time()
        made = [writes(i) for i in range(n)]
        write_s = time.perf_counter() - started
        write_cpu = time.process_time() - cpu
    with profiled(f"{label}-read"):
        started, cpu = time.perf_counter(), time.process_time()
        for item in made:
            reads(item)
        read_s = time.perf_counter() - started
        read_cpu = time.process_time() - cpu
    # CPU per write of this process (all of SQLite's work; not PostgreSQL's server)
    return {
        "write_ops": n / write_s,
        "read_ops": n / read_s,
        "n": n,
        "write_cpu_us": write_cpu / n * 1e6,
        "read_cpu_us": read_cpu / n * 1e6,
    }


# --------------------------------------------------------------------------- workloads


def raw_pg(n: int, uri: str, libpq: str) -> Result:
    import psycopg

    conn = psycopg.connect(libpq)
    # the shape of archipel's table for W1's aggregate (its _event_position stays NULL)
    conn.execute(
        "CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance bigint,"
        " _event_position bigint, _version int)"
    )
    conn.commit()

    def write(i: int) -> str:
        identity = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO raw_w1 VALUES (%s, %s, %s, NULL, %s)", (identity, f"owner-{i}", 0, 0)
        )
        conn.commit()
        return identity

    reader = psycopg.connect(libpq, autocommit=True)  # a read is one statement, no transaction

    def read(identity: object) -> None:
        reader.execute(
            "SELECT id, owner, balance, _event_position, _version FROM raw_w1 WHERE id = %s",
            (identity,),
        ).fetchone()

    return timed(write, read, n, "raw")


def raw_sqlite(n: int, path: str, synchronous: str = "FULL") -> Result:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(
        "CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance integer, _version int)"
    )

    def write(i: int) -> str:
        identity = str(uuid.uuid4())
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO raw_w1 VALUES (?, ?, ?, ?)", (identity, f"owner-{i}", 0, 0))
        conn.execute("COMMIT")
        return identity

    def read(identity: object) -> None:
        conn.execute(
            "SELECT id, owner, balance, _version FROM raw_w1 WHERE id = ?", (identity,)
        ).fetchone()

    return timed(write, read, n, f"raw-sqlite-{synchronous.lower()}")


def archipel(
    n: int, uri: str, inline: bool = False, projector: bool = True, outbox: bool = False, **settings: str
) -> Result:
    from w1_archipel import build

    provider = "postgresql" if uri.startswith("postgresql") else "sqlite"
    database = {"provider": provider, "database_uri": uri, **settings}
    config: dict[str, object] = {"databases": {"default": database}, "event_store": {"provider": provider}}
    if outbox:  # each event also gets an outbox row in the command's commit (no relay runs)
        config["enable_outbox"] = True
    domain, account_cls, open_account = build(config, inline_projector=inline, projector=projector)
    label = f"archipel-{provider}-" + ("inline" if inline else "sync" if projector else "noproj")
    label += "-outbox" if outbox else ""
    with domain.domain_context():
        domain.setup_database()
        process = domain.process
        repo = domain.repository_for(account_cls)
        result = timed(lambda i: process(open_account(owner=f"owner-{i}")), repo.get, n, label)
    domain.shutdown()
    return result


class _Recorder:
    """A driver connection that records what archipel's writes send on it (``floor_sqlite``)."""

    def __init__(self, conn: sqlite3.Connection, log: list[tuple[str, object, bool]]) -> None:
        self._conn, self._log = conn, log

    def cursor(self) -> _Recorder:
        return _Recorder(self._conn.cursor(), self._log)  # type: ignore[arg-type]

    def execute(self, sql: str, params: object = ()) -> object:
        self._log.append((sql, params, False))
        self._last = self._conn.execute(sql, params)  # type: ignore[arg-type]
        return self

    def executemany(self, sql: str, rows: object) -> object:
        rows = list(rows)  # type: ignore[call-overload]
        self._log.append((sql, rows, True))
        return self._conn.executemany(sql, rows)  # type: ignore[arg-type]

    def fetchall(self) -> list[object]:
        return self._last.fetchall()  # type: ignore[no-any-return]

    def fetchone(self) -> object:
        return self._last.fetchone()

    @property
    def rowcount(self) -> int:
        return self._last.rowcount  # type: ignore[no-any-return]

    @property
    def lastrowid(self) -> int:
        return self._last.lastrowid  # type: ignore[no-any-return]

    def close(self) -> None:
        pass

    @property
    def connection(self) -> object:
        return self._conn


class _Lease:
    """A pooled connection lent while ``record_floor`` records: its driver connection records."""

    def __init__(self, fairy: object) -> None:
        self.fairy = fairy
        self.log: list[tuple[str, object, bool]] = []
        self.driver_connection = _Recorder(fairy.driver_connection, self.log)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.fairy, name)


def floor_sqlite(n: int, uri: str, inline: bool = False, projector: bool = False) -> Result:
    """The floor of a command on SQLite: bare sqlite3 sending what archipel's command sends.

    archipel runs ``N + warm-up`` commands on a scratch file while every
    statement it sends on a pooled connection (SQL text and parameters,
    ``BEGIN IMMEDIATE`` and ``COMMIT`` included) is recorded; then, on a
    fresh file with archipel's schema (same tables, same indexes, created by
    archipel's ``setup_database``) and archipel's pragmas, bare sqlite3
    replays each command's statements in order. Same rows, same statements,
    same pages written: what is left between this and archipel is Python.
    """
    conn, commands = record_floor(WARMUP + n, uri.split("///", 1)[1], inline, projector)
    replay = iter(commands)

    def write(_i: int) -> None:
        replay_command(conn, next(replay))

    def read(_made: object) -> None:
        pass

    result = timed(write, read, n, "floor-sqlite")
    result["read_ops"] = 0.0
    return result


#: per connection lent (a synchronous projector commits its own unit of work), the
#: statements archipel sent on it: (sql, parameters, executemany?)
Commits = list[list[tuple[str, object, bool]]]


def record_floor(
    count: int, path: str, inline: bool = False, projector: bool = False
) -> tuple[sqlite3.Connection, list[Commits]]:
    """Record the statements of ``count`` W1 commands (on ``path``.scratch), and a
    connection to a fresh ``path`` with archipel's schema and pragmas to replay them on
    (:func:`replay_command`)."""
    from w1_archipel import build

    from archipel.adapters.sql.engine import SqlEngine

    scratch = f"{path}.scratch"
    commands: list[Commits] = []
    checkout, checkin, discard = SqlEngine.checkout, SqlEngine.checkin, SqlEngine.discard

    def recording(self: SqlEngine) -> object:
        lease = _Lease(checkout(self))
        commands[-1].append(lease.log)
        return lease

    def unwrapped(method: Callable[[SqlEngine, object], None]) -> Callable[[SqlEngine, object], None]:
        return lambda self, lease: method(self, lease.fairy if isinstance(lease, _Lease) else lease)

    def domain_on(file: str) -> tuple[object, type, type]:
        database = {"provider": "sqlite", "database_uri": f"sqlite:///{file}"}
        return build(
            {"databases": {"default": database}, "event_store": {"provider": "sqlite"}},
            inline_projector=inline,
            projector=projector,
        )

    domain, _, open_account = domain_on(scratch)
    try:
        with domain.domain_context():  # type: ignore[attr-defined]
            domain.setup_database()  # type: ignore[attr-defined]
            SqlEngine.checkout = recording  # type: ignore[method-assign]
            SqlEngine.checkin = unwrapped(checkin)  # type: ignore[method-assign]
            SqlEngine.discard = unwrapped(discard)  # type: ignore[method-assign]
            for i in range(count):
                commands.append([])
                domain.process(open_account(owner=f"owner-{i - WARMUP}"))  # type: ignore[attr-defined]
                commands[-1] = [statements for statements in commands[-1] if statements]
    finally:
        SqlEngine.checkout, SqlEngine.checkin, SqlEngine.discard = checkout, checkin, discard  # type: ignore[method-assign]
        domain.shutdown()  # type: ignore[attr-defined]
    fresh, _, _ = domain_on(path)
    with fresh.domain_context():  # type: ignore[attr-defined]
        fresh.setup_database()  # type: ignore[attr-defined]
    fresh.shutdown()  # type: ignore[attr-defined]

    from archipel.adapters.sql.engine import WAL_AUTOCHECKPOINT

    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        f"wal_autocheckpoint={WAL_AUTOCHECKPOINT}",
        "foreign_keys=ON",
        "case_sensitive_like=ON",
    ):
        conn.execute(f"PRAGMA {pragma}")
    return conn, commands


def replay_command(conn: sqlite3.Connection, commits: Commits) -> None:
    """Send one command's recorded statements as archipel sent them (its ``BEGIN
    IMMEDIATE`` and ``COMMIT`` included; one statement alone: autocommit)."""
    execute = conn.execute
    for statements in commits:
        for sql, params, many in statements:
            if many:
                conn.executemany(sql, params)  # type: ignore[arg-type]
            else:
                execute(sql, params).fetchall()  # type: ignore[arg-type]


def _es_environment(uri: str) -> None:
    if uri.startswith("postgresql"):
        from sqlalchemy import make_url

        url = make_url(uri)
        os.environ.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=str(url.database),
            POSTGRES_HOST=str(url.host),
            POSTGRES_PORT=str(url.port),
            POSTGRES_USER=str(url.username),
            POSTGRES_PASSWORD=url.password or "trust",
        )
    else:
        os.environ.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=uri.split("///", 1)[1]
        )


def es_system(n: int, uri: str) -> Result:
    _es_environment(uri)
    from eventsourcing.system import SingleThreadedRunner, System
    from w1_eventsourcing_system import Accounts, Summaries, Welcome

    runner = SingleThreadedRunner(System(pipes=[[Accounts, Welcome], [Accounts, Summaries]]))
    runner.start()
    app = runner.get(Accounts)
    result = timed(lambda i: app.open(f"owner-{i}"), app.repository.get, n, "es-system")
    assert Welcome.opened == n + WARMUP, Welcome.opened
    runner.stop()
    return result


def es_save(n: int, uri: str) -> Result:
    _es_environment(uri)
    from w1_eventsourcing import Accounts

    app = Accounts()
    summaries: dict[object, dict[str, str]] = {}
    counter = {"opened": 0}

    def write(i: int) -> object:
        account = app.open(f"owner-{i}")
        counter["opened"] += 1  # the event handler
        summaries[account.id] = {"owner": account.owner}  # the projector (in memory!)
        return account.id

    return timed(write, app.repository.get, n, "es-save")


def protean_pg(n: int, uri: str) -> Result:
    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    from protean import Domain, handle
    from protean.core.aggregate import BaseAggregate
    from protean.core.command import BaseCommand
    from protean.core.command_handler import BaseCommandHandler
    from protean.core.event import BaseEvent
    from protean.core.event_handler import BaseEventHandler
    from protean.core.projection import BaseProjection
    from protean.core.projector import BaseProjector
    from protean.fields import Identifier, Integer, String

    domain = Domain(name="Bench")
    domain.config["command_processing"] = "sync"
    domain.config["event_processing"] = "sync"
    domain.config["databases"]["default"] = {"provider": "postgresql", "database_uri": uri}

    class Account(BaseAggregate):
        owner = String(max_length=50, required=True)
        balance = Integer(default=0)

    class AccountOpened(BaseEvent):
        account_id = Identifier(required=True)
        owner = String(max_length=50)

    class OpenAccount(BaseCommand):
        owner = String(max_length=50, required=True)

    class Accounts(BaseCommandHandler):
        @handle(OpenAccount)
        def open(self, command):  # type: ignore[no-untyped-def]
            account = Account(owner=command.owner)
            account.raise_(AccountOpened(account_id=account.id, owner=account.owner))
            domain.repository_for(Account).add(account)
            return account.id

    class Welcome(BaseEventHandler):
        @handle(AccountOpened)
        def on_opened(self, event):  # type: ignore[no-untyped-def]
            pass

    class AccountSummary(BaseProjection):
        account_id = Identifier(identifier=True)
        owner = String(max_length=50)

    class Summaries(BaseProjector):
        @handle(AccountOpened)
        def on_opened(self, event):  # type: ignore[no-untyped-def]
            domain.repository_for(AccountSummary).add(
                AccountSummary(account_id=event.account_id, owner=event.owner)
            )

    domain.register(Account)
    domain.register(AccountOpened, part_of=Account)
    domain.register(OpenAccount, part_of=Account)
    domain.register(Accounts, part_of=Account)
    domain.register(Welcome, part_of=Account)
    domain.register(AccountSummary)
    domain.register(Summaries, projector_for=AccountSummary, aggregates=[Account])
    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        repo = domain.repository_for(Account)
        return timed(
            lambda i: domain.process(OpenAccount(owner=f"owner-{i}")), repo.get, n, "protean"
        )


def reads_pg(n: int, uri: str, libpq: str) -> Result:
    """The read by id, three readers alternating blocks in one process (``pg_reads.py``)."""
    from pg_reads import interleaved_reads

    return interleaved_reads(n, uri, libpq)


WORKLOADS: dict[str, Callable[..., Result]] = {
    "raw": raw_pg,
    "reads": reads_pg,
    "archipel-noproj": lambda n, uri: archipel(n, uri, projector=False),
    "archipel-inline": lambda n, uri: archipel(n, uri, inline=True),
    "archipel": archipel,
    "archipel-outbox": lambda n, uri: archipel(n, uri, outbox=True),
    "es": es_system,
    "es-save": es_save,
    "protean": protean_pg,
    "raw-sqlite-normal": lambda n, uri: raw_sqlite(n, uri.split("///", 1)[1], "NORMAL"),
    "raw-sqlite": lambda n, uri: raw_sqlite(n, uri.split("///", 1)[1], "FULL"),
    "archipel-sqlite-noproj": lambda n, uri: archipel(n, uri, projector=False),
    "archipel-sqlite-inline": lambda n, uri: archipel(n, uri, inline=True),
    "archipel-sqlite": archipel,
    "archipel-sqlite-outbox": lambda n, uri: archipel(n, uri, outbox=True),
    "archipel-sqlite-full": lambda n, uri: archipel(n, uri, synchronous="FULL"),
    "floor-sqlite-noproj": lambda n, uri: floor_sqlite(n, uri),
    "floor-sqlite-inline": lambda n, uri: floor_sqlite(n, uri, inline=True, projector=True),
    "floor-sqlite": lambda n, uri: floor_sqlite(n, uri, projector=True),
    "es-sqlite": es_system,
    "es-save-sqlite": es_save,
}
PG_CONTENDERS = ("raw", "archipel-noproj", "archipel-inline", "archipel", "es", "es-save")
SQLITE_CONTENDERS = (
    "raw-sqlite-normal",
    "floor-sqlite-noproj",
    "archipel-sqlite-noproj",
    "floor-sqlite-inline",
    "archipel-sqlite-inline",
    "floor-sqlite",
    "archipel-sqlite",
    "raw-sqlite",
    "archipel-sqlite-full",
    "es-sqlite",
    "es-save-sqlite",
)
#: archipel on SQLite against bare sqlite3 sending the same statements (its floor)
FLOOR_ROWS = (
    ("no projector", "archipel-sqlite-noproj", "floor-sqlite-noproj"),
    ("inline projector", "archipel-sqlite-inline", "floor-sqlite-inline"),
    ("sync projector (W1)", "archipel-sqlite", "floor-sqlite"),
)
#: (label, workload, anchor, target ratio of writes or None)
PG_ROWS = (
    ("raw (1-row INSERT/tx)", "raw", "raw", None),
    ("archipel, no projector", "archipel-noproj", "raw", 0.85),
    ("archipel, inline projector", "archipel-inline", "raw", 0.85),
    ("archipel, sync projector (W1)", "archipel", "raw", 0.45),
    ("archipel, W1 + outbox row", "archipel-outbox", "raw", None),
    ("eventsourcing System (W1)", "es", "raw", None),
    ("eventsourcing save only", "es-save", "raw", None),
    ("protean 0.18 (W1, small N)", "protean", "raw", None),
)
SQLITE_ROWS = (
    ("raw NORMAL (1-row INSERT/tx)", "raw-sqlite-normal", "raw-sqlite-normal", None),
    ("floor NORMAL, no projector", "floor-sqlite-noproj", "raw-sqlite-normal", None),
    ("archipel NORMAL, no projector", "archipel-sqlite-noproj", "raw-sqlite-normal", 0.8),
    ("floor NORMAL, inline proj.", "floor-sqlite-inline", "raw-sqlite-normal", None),
    ("archipel NORMAL, inline proj.", "archipel-sqlite-inline", "raw-sqlite-normal", 0.8),
    ("floor NORMAL, sync proj.", "floor-sqlite", "raw-sqlite-normal", None),
    ("archipel NORMAL, sync proj. (W1)", "archipel-sqlite", "raw-sqlite-normal", None),
    ("archipel NORMAL, W1 + outbox row", "archipel-sqlite-outbox", "raw-sqlite-normal", None),
    ("raw FULL (1-row INSERT/tx)", "raw-sqlite", "raw-sqlite", None),
    ("archipel FULL, sync proj. (W1)", "archipel-sqlite-full", "raw-sqlite", None),
    ("eventsourcing System FULL (W1)", "es-sqlite", "raw-sqlite", None),
    ("eventsourcing save only FULL", "es-save-sqlite", "raw-sqlite", None),
)


def run_one(args: argparse.Namespace) -> None:
    """The child side: run one workload and print its JSON result."""
    name = args.workload
    if name in ("raw", "reads"):
        result = WORKLOADS[name](args.n, args.uri, args.libpq)
    else:
        result = WORKLOADS[name](args.n, args.uri)
    print(json.dumps(result))


# --------------------------------------------------------------------------- orchestration


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=None, help="commands per run (default 2000)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="N = 500, one round")
    parser.add_argument("--no-protean", action="store_true", help="skip protean (slow)")
    parser.add_argument("--protean-n", type=int, default=200)
    parser.add_argument("--only", help="comma-separated contenders, e.g. raw,archipel")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument(
        "--pin", metavar="CLIENT,SERVER",
        help="pin each workload process and PostgreSQL to these CPUs (e.g. 0,1): every contender's "
        "reads get the same scheduling (see bench/read_interleaved.py)",
    )
    parser.add_argument(
        "--base",
        metavar="SRC",
        help="also run each archipel contender with archipel imported from SRC (another tree's "
        "src folder, e.g. main's), right after this tree's in every round: rows marked [base]",
    )
    parser.add_argument(
        "--no-interleaved-reads", action="store_true",
        help="do not run the interleaved read workload (reads) that archipel-noproj brings along",
    )
    add_profile_flag(parser)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--libpq", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        if args.n is None:
            args.n = 2000
        run_one(args)
        return 0
    enable_profiling(args.profile)
    n = args.n or (500 if args.quick else 2000)
    rounds = args.rounds or (1 if args.quick else 3)

    from tests._servers import PostgresServer

    load_before = load_average()
    print(f"start: {load_before}", file=sys.stderr)
    server = PostgresServer.launch()
    global _CLIENT_CPUS
    if args.pin:
        client_cpu, server_cpu = (int(x) for x in args.pin.split(","))
        _CLIENT_CPUS = {client_cpu}
        for pid in server.process_ids():  # backends forked later inherit the postmaster's CPUs
            with contextlib.suppress(ProcessLookupError):  # a server process that ended since
                os.sched_setaffinity(pid, {server_cpu})
        print(f"pinned: workloads on CPU {client_cpu}, PostgreSQL on CPU {server_cpu}", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="archipel-bench-"))
    results: dict[str, list[Result]] = {}
    try:
        with server.connect() as conn:
            settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # noqa: S608 - fixed names
                for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
            }
        print(f"PostgreSQL {settings} on 127.0.0.1:{server.port}", file=sys.stderr)
        chosen = args.only.split(",") if args.only else [*PG_CONTENDERS, *SQLITE_CONTENDERS]
        plan: list[tuple[str, str | None]] = []
        for name in chosen:
            if name == "protean":
                continue
            plan.append((name, None))
            if args.base and (name.startswith("archipel") or name == "reads"):
                plan.append((name, args.base))
            # the target's read figure comes with archipel-noproj (see pg_reads.py)
            if name == "archipel-noproj" and "reads" not in chosen and not args.no_interleaved_reads:
                plan.append(("reads", None))
                if args.base:
                    plan.append(("reads", args.base))
        for round_no in range(rounds):
            for name, src in plan:
                key = name if src is None else f"{name}{BASE}"
                print(
                    f"  round {round_no + 1}/{rounds}: {key} N={n} ...",
                    file=sys.stderr,
                    flush=True,
                )
                results.setdefault(key, []).append(_run(server, scratch, name, n, src))
        if not args.no_protean and (not args.only or "protean" in chosen):
            print(f"  protean N={args.protean_n} ...", file=sys.stderr, flush=True)
            results["protean"] = [_run(server, scratch, "protean", args.protean_n)]
    finally:
        server.destroy()
        shutil.rmtree(scratch, ignore_errors=True)
    lines = _report(results, n, rounds, settings, load_before, load_average())
    print("\n".join(lines))
    if args.markdown:
        print()
        print("\n".join(_markdown(results)))
    return 0


#: ``--pin``: the CPUs of the workload processes (None: unpinned)
_CLIENT_CPUS: set[int] | None = None


def _run(server: object, scratch: Path, name: str, n: int, src: str | None = None) -> Result:
    args = ["--workload", name, "--n", str(n)]
    if "sqlite" in name:
        path = scratch / f"{name}-{uuid.uuid4().hex[:8]}.db"
        return run_workload("storage.py", *args, "--uri", f"sqlite:///{path}", src=src, cpus=_CLIENT_CPUS)
    database = server.create_database(prefix="bench")  # type: ignore[attr-defined]
    try:
        return run_workload(
            "storage.py",
            *args,
            "--uri",
            server.url(database),  # type: ignore[attr-defined]
            "--libpq",
            server.libpq_url(database),  # type: ignore[attr-defined]
            src=src,
            cpus=_CLIENT_CPUS,
        )
    finally:
        server.drop_database(database)  # type: ignore[attr-defined]


def _figures(
    results: dict[str, list[Result]], name: str, anchor: str, key: str
) -> tuple[float, tuple[float, float, float]] | None:
    """Median rate of ``name`` and its per-round ratio to ``anchor`` (median, min, max)."""
    runs, base = results.get(name), results.get(anchor)
    if not runs:
        return None
    rate = statistics.median(r[key] for r in runs)
    if not base:
        return rate, (0.0, 0.0, 0.0)
    if len(runs) != len(base):  # protean: one small run against the rounds' median
        return rate, ratios([rate], [statistics.median(r[key] for r in base)])
    return rate, ratios([r[key] for r in runs], [r[key] for r in base])


def _cpu(results: dict[str, list[Result]], name: str, anchor: str, key: str = "write_cpu_us") -> str:
    """CPU µs per write (or read: ``key``) and the anchor's over it, per round (this process's CPU)."""
    runs, base = results.get(name), results.get(anchor)
    if not runs or not base or key not in runs[0] or key not in base[0] or len(runs) != len(base):
        return ""
    mine = [r[key] for r in runs]
    theirs = [r[key] for r in base]
    per_round = sorted(t / m for m, t in zip(mine, theirs, strict=True) if m)
    if not per_round:
        return ""
    med = statistics.median(per_round)
    spread_ = "" if len(per_round) == 1 else f" ({per_round[0]:.2f}-{per_round[-1]:.2f})"
    unit = "write" if key == "write_cpu_us" else "read"
    return f"  CPU {statistics.median(mine):.0f} us/{unit} = {med:.2f}x{spread_}"


def _with_base(
    results: dict[str, list[Result]], rows: tuple[tuple[str, str, str, float | None], ...]
) -> list[tuple[str, str, str, float | None]]:
    """``rows``, each followed by its ``[base]`` twin when ``--base`` ran it."""
    out = []
    for label, name, anchor, target in rows:
        out.append((label, name, anchor, target))
        if f"{name}{BASE}" in results:
            out.append((f"{label} [base]", f"{name}{BASE}", anchor, target))
    return out


def _rows(results: dict[str, list[Result]], rows: tuple[tuple[str, str, str, float | None], ...]) -> list[str]:
    out = []
    for label, name, anchor, target in _with_base(results, rows):
        writes = _figures(results, name, anchor, "write_ops")
        reads = _figures(results, name, anchor, "read_ops")
        if writes is None or reads is None:
            continue
        (w, wr), (r, rr) = writes, reads
        if not r:  # the floor measures writes only
            rr = (0.0, 0.0, 0.0)
        goal = "" if target is None else f"  target >= {target}x: {'met' if wr[0] >= target else 'NOT met'}"
        # SQLite: CPU per write (all of SQLite's work is in the process); PostgreSQL: the
        # client's CPU per read (the server's work is the same statement for both)
        cpu = _cpu(results, name, anchor) if "sqlite" in name else _cpu(results, name, anchor, "read_cpu_us")
        if "sqlite" not in name:  # and per write: the client's share of a command (not the server's)
            cpu = cpu + _cpu(results, name, anchor).replace("  CPU", ";", 1)
        out.append(
            f"{label:<34} {w:>9.0f} {_ratio(wr):>18} {f'{r:.0f}' if r else '-':>9} "
            f"{_ratio(rr):>18}{goal}{cpu}"
        )
    return out


def _ratio(r: tuple[float, float, float]) -> str:
    med, low, high = r
    if not med:
        return "-"
    if low == high:
        return f"{med:.2f}x"
    return f"{med:.2f}x ({low:.2f}-{high:.2f})"


def _report(
    results: dict[str, list[Result]],
    n: int,
    rounds: int,
    settings: dict[str, str],
    load_before: str,
    load_after: str,
) -> list[str]:
    header = f"{'':<34} {'writes/s':>9} {'vs anchor':>18} {'reads/s':>9} {'vs anchor':>18}"
    pg_reads_note = (
        "reads/s here: each contender's own process, where which core its backend runs on decides"
        " (luck, 0.5-4x); the read target's figure is the interleaved one below"
    )
    lines = [
        f"\nW1 on real storage, N = {n}, {rounds} round(s): medians, per-round ratios median (low-high)",
        f"machine: start {load_before}; end {load_after}",
        f"PostgreSQL {settings.get('server_version')}: fsync={settings.get('fsync')}, "
        f"synchronous_commit={settings.get('synchronous_commit')}; anchor: raw commit of the same round;"
        " CPU: the client process's CPU per read and the anchor's over it",
        pg_reads_note,
        header,
        "-" * len(header),
        *_rows(results, PG_ROWS),
        *_versus_base(results, PG_ROWS),
        *_interleaved(results),
        "\nSQLite (file, WAL); anchor: raw commit with the same synchronous setting; CPU: the"
        " process's CPU per write (all of SQLite's work, steadier than wall time under load)"
        " and the anchor's over it",
        header,
        "-" * len(header),
        *_rows(results, SQLITE_ROWS),
        *_versus_base(results, SQLITE_ROWS),
        *_floor(results),
    ]
    return lines


#: the readers of the ``reads`` workload (pg_reads.py) and their labels
READ_ROWS = (
    ("archipel repository.get", "archipel"),
    ("raw SELECT, archipel's connection", "raw-shared"),
    ("raw SELECT, own connection", "raw"),
)


def _interleaved(results: dict[str, list[Result]]) -> list[str]:
    """The ``reads`` workload: the read by id's target figure (raw's reads alternating
    archipel's in one process; bench/pg_reads.py)."""
    out: list[str] = []
    for key in ("reads", f"reads{BASE}"):
        runs = results.get(key)
        if not runs:
            continue
        tag = " [base]" if key.endswith(BASE) else ""
        out += [
            f"\nPostgreSQL read by id{tag}, interleaved (bench/pg_reads.py: one process, the same rows,"
            f" blocks of {runs[0]['block']:.0f} reads alternating; medians over the blocks, then over"
            " the rounds; per-block-cycle ratios, median (low-high) over the rounds)",
            f"{'reader':<34} {'reads/s':>9} {'CPU us/read':>11} {'sys us':>6} {'sleeps':>6}"
            f" {'preempted':>9} {'round trips':>11} {'messages':>8}  (per read)",
        ]
        for label, name in READ_ROWS:
            def median(figure: str, runs: list[Result] = runs, name: str = name) -> float:
                return statistics.median(r[f"{name}_{figure}"] for r in runs)

            out.append(
                f"{label:<34} {median('read_ops'):>9.0f} {median('cpu_us'):>11.1f} {median('sys_us'):>6.1f}"
                f" {median('sleeps'):>6.2f} {median('preempted'):>9.2f} {median('round_trips'):>11.2f}"
                f" {median('messages'):>8.1f}"
            )
        for label, other in (("same connection: the target's figure", "raw-shared"), ("own connection", "raw")):
            wall = ratios([r[f"{other}_wall_ratio"] for r in runs], [1.0] * len(runs))
            cpu = ratios([r[f"{other}_cpu_ratio"] for r in runs], [1.0] * len(runs))
            goal = f"  target >= 0.9x: {'met' if wall[0] >= 0.9 else 'NOT met'}" if other == "raw-shared" else ""
            out.append(
                f"  archipel's reads / raw's ({label}): {_ratio(wall)}, CPU {_ratio(cpu)}{goal}"
            )
    return out


def _versus_base(results: dict[str, list[Result]], rows: tuple[tuple[str, str, str, float | None], ...]) -> list[str]:
    """``--base``: each contender against its [base] twin run right after it in the same
    round (writes/s this tree / base, per round; CPU per write)."""
    out = []
    for label, name, _, _ in rows:
        if f"{name}{BASE}" not in results or name not in results:
            continue
        writes = _figures(results, name, f"{name}{BASE}", "write_ops")
        if writes is None:
            continue
        cpu = _cpu(results, name, f"{name}{BASE}").replace("  CPU", "CPU", 1)
        out.append(f"  {label}, this tree / [base], same round: writes {_ratio(writes[1])}; {cpu} (base over this tree)")
    return out


def _floor(results: dict[str, list[Result]]) -> list[str]:
    """archipel / floor: the floor is bare sqlite3 sending the statements archipel sent
    (same rows, same indexes), so the CPU archipel spends above it is Python."""
    out = []
    for label, name, floor in FLOOR_ROWS:
        writes = _figures(results, name, floor, "write_ops")
        runs, base = results.get(name), results.get(floor)
        if writes is None or not runs or not base or len(runs) != len(base):
            continue
        mine = statistics.median(r["write_cpu_us"] for r in runs)
        theirs = statistics.median(r["write_cpu_us"] for r in base)
        above = statistics.median(
            r["write_cpu_us"] - b["write_cpu_us"] for r, b in zip(runs, base, strict=True)
        )
        out.append(
            f"  floor: archipel / bare sqlite3 with the same statements, {label}: writes "
            f"{_ratio(writes[1])}; CPU {mine:.0f} vs {theirs:.0f} us/write: {above:.0f} us of Python"
        )
    return out


def _markdown(results: dict[str, list[Result]]) -> list[str]:
    out = [
        "| workload | writes/s | vs anchor | reads/s | vs anchor | CPU per write (SQLite) |",
        "|---|---|---|---|---|---|",
    ]
    for label, name, anchor, _ in _with_base(results, (*PG_ROWS, *SQLITE_ROWS)):
        writes = _figures(results, name, anchor, "write_ops")
        reads = _figures(results, name, anchor, "read_ops")
        if writes is None or reads is None:
            continue
        where = "SQLite" if "sqlite" in name else "PostgreSQL"
        cpu = _cpu(results, name, anchor).strip().removeprefix("CPU ") if where == "SQLite" else ""
        out.append(
            f"| {where}: {label} | {writes[0]:.0f} | {_ratio(writes[1])} | {reads[0]:.0f} | "
            f"{_ratio(reads[1])} | {cpu or '-'} |"
        )
    runs = results.get("reads")
    if runs:
        for label, other in (("same connection", "raw-shared"), ("own connection", "raw")):
            wall = ratios([r[f"{other}_wall_ratio"] for r in runs], [1.0] * len(runs))
            out.append(
                f"| PostgreSQL: read by id interleaved, raw {label} | - | - | "
                f"{statistics.median(r['archipel_read_ops'] for r in runs):.0f} | {_ratio(wall)} | - |"
            )
    return out


if __name__ == "__main__":
    sys.exit(main())
