"""PostgreSQL read by id, three readers alternating small blocks in one process (``storage.py``'s ``reads``).

Why. ``storage.py`` times each contender's reads in a process of its own,
and each reader's connection has a PostgreSQL backend of its own. Where the
scheduler runs that backend decides the figure more than the client does:
a backend woken on the reader's core preempts the reader until the answer is
there (no sleep, ~20-30 µs a read here); one woken on the other core leaves
the reader asleep in ``poll`` and both cores go idle at every read (~80 µs:
each wake-up from idle costs tens of µs on this machine). Which regime a
connection lands in is luck, held for the life of a process: per-process
ratios moved 0.47-1.40 in one run (session 13) and 1.03-4.76 in another
(session 14), with one round trip per read for both all along (``strace``,
and libpq's trace below).

How. One process stores ``n`` W1 aggregates through archipel (no projector;
untimed), copies the very same rows into ``raw_w1`` (``storage.py``'s raw
table: the same five columns), then reads them all with three readers, in
blocks of ``block`` reads, the readers' order rotating from one block cycle
to the next:

- ``archipel``: ``repository.get`` (outside any unit of work);
- ``raw-shared``: the raw anchor's call, psycopg
  ``connection.execute(SELECT ... WHERE id = %s).fetchone()``, on the
  connection archipel's reads use (the one its pool lends): the same backend,
  so the same scheduling; only the client differs;
- ``raw``: the same call on a connection of its own (``psycopg.connect``, in
  autocommit), as ``storage.py``'s ``raw`` contender reads: its backend's luck
  is its own, as a separate process's would be.

Per block: wall time, this thread's CPU time and, from ``getrusage``, its
system time, its sleeps (voluntary context switches: waits in ``poll``) and
preemptions (involuntary ones). Per reader the medians of wall and CPU time
over the blocks, the means of the others (the kernel splits CPU time into
system and user at its ticks, coarser than a block);
ratios per block cycle (raw's wall over archipel's: above 1, archipel is
faster), their median. Before the blocks, libpq's trace of ``TRACED`` reads
of each reader counts the protocol: round trips (``ReadyForQuery`` answers)
and messages per read.
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

#: the readers, in the order of the first block cycle
READERS = ("archipel", "raw-shared", "raw")
RAW_SQL = "SELECT id, owner, balance, _event_position, _version FROM raw_w1 WHERE id = %s"
#: reads traced per reader (after the warm-up) to count round trips and messages
TRACED = 20
WARMUP = 50


def interleaved_reads(n: int, uri: str, libpq: str, block: int = 50) -> dict[str, float]:
    """The figures of the module docstring, flat: ``<reader>_<figure>`` and ``<reader>_vs_<other>``."""
    import psycopg
    from w1_archipel import build

    domain, account_cls, open_account = build(
        {
            "databases": {"default": {"provider": "postgresql", "database_uri": uri}},
            "event_store": {"provider": "postgresql"},
        },
        projector=False,
    )
    result: dict[str, float] = {"n": n, "block": block}
    with domain.domain_context():  # type: ignore[attr-defined]
        domain.setup_database()  # type: ignore[attr-defined]
        ids = [domain.process(open_account(owner=f"owner-{i}")) for i in range(WARMUP + n)]  # type: ignore[attr-defined]
        database = domain.providers.database()  # type: ignore[attr-defined]
        get = domain.repository_for(account_cls).get  # type: ignore[attr-defined]
        get(ids[0])  # archipel's reads now have a pooled connection: the one raw-shared reads on
        shared = database.engine._pool._idle[-1].driver_connection
        with psycopg.connect(libpq, autocommit=True) as setup:
            (table,) = (
                setup.execute(  # archipel's table of the aggregate (the only one with an owner)
                    "SELECT table_name FROM information_schema.columns WHERE column_name = 'owner'"
                    " AND table_schema = current_schema()"
                ).fetchone()
                or ("?",)
            )
            setup.execute(
                "CREATE TABLE raw_w1 (id varchar(255) PRIMARY KEY, owner varchar(50), balance bigint,"
                " _event_position bigint, _version int)"
            )
            setup.execute(
                "INSERT INTO raw_w1 SELECT id, owner, balance, _event_position, _version"  # noqa: S608
                f' FROM "{table}"'
            )
            copied = setup.execute("SELECT count(*) FROM raw_w1").fetchone()[0]  # type: ignore[index]
            if copied != len(ids):
                raise RuntimeError(f"raw_w1 holds {copied} rows, archipel's table {len(ids)}")
        own = psycopg.connect(libpq, autocommit=True)
        if own.execute(RAW_SQL, (ids[-1],)).fetchone() is None:
            raise RuntimeError(f"raw_w1 lacks archipel's row {ids[-1]!r}")

        def raw_on(conn: Any) -> Callable[[list[str]], None]:
            def read(keys: list[str]) -> None:
                execute = conn.execute
                for identity in keys:
                    execute(RAW_SQL, (identity,)).fetchone()

            return read

        def archipel(keys: list[str]) -> None:
            for identity in keys:
                get(identity)

        readers = {
            "archipel": (archipel, shared),
            "raw-shared": (raw_on(shared), shared),
            "raw": (raw_on(own), own),
        }
        for name, (read, conn) in readers.items():
            read(ids[:WARMUP])  # psycopg prepares at the fifth use, archipel at the first
            trips, messages = _traced(conn, read, ids[WARMUP : WARMUP + TRACED])
            result[f"{name}_round_trips"] = trips
            result[f"{name}_messages"] = messages
        keys = ids[WARMUP:]
        blocks: dict[str, list[tuple[float, ...]]] = {name: [] for name in READERS}
        for cycle, start in enumerate(range(0, n, block)):
            chunk = keys[start : start + block]
            shift = cycle % len(READERS)
            for name in READERS[shift:] + READERS[:shift]:
                blocks[name].append(_timed(readers[name][0], chunk))
        own.close()
    domain.shutdown()  # type: ignore[attr-defined]
    for name, rows in blocks.items():
        walls, cpus, systems, sleeps, preempted = zip(*rows, strict=True)
        result[f"{name}_wall_us"] = statistics.median(walls)
        result[f"{name}_cpu_us"] = statistics.median(cpus)
        # the kernel splits a thread's CPU time into user and system at its ticks, and counts
        # whole switches: over all blocks (each block's figure is per read, the blocks equal)
        result[f"{name}_sys_us"] = statistics.fmean(systems)
        result[f"{name}_sleeps"] = statistics.fmean(sleeps)
        result[f"{name}_preempted"] = statistics.fmean(preempted)
        result[f"{name}_read_ops"] = 1e6 / result[f"{name}_wall_us"]
    for other in ("raw-shared", "raw"):
        for figure, index in (("wall", 0), ("cpu", 1)):
            result[f"{other}_{figure}_ratio"] = statistics.median(
                theirs[index] / mine[index]
                for mine, theirs in zip(blocks["archipel"], blocks[other], strict=True)
            )
    return result


def _timed(read: Callable[[list[str]], None], keys: list[str]) -> tuple[float, ...]:
    """Per read: wall µs, thread CPU µs, system µs, sleeps, preemptions."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    wall, cpu = time.perf_counter(), time.thread_time()
    read(keys)
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    after = resource.getrusage(resource.RUSAGE_THREAD)
    k = len(keys)
    return (
        wall / k * 1e6,
        cpu / k * 1e6,
        (after.ru_stime - usage.ru_stime) / k * 1e6,
        (after.ru_nvcsw - usage.ru_nvcsw) / k,
        (after.ru_nivcsw - usage.ru_nivcsw) / k,
    )


def _traced(conn: Any, read: Callable[[list[str]], None], keys: list[str]) -> tuple[float, float]:
    """Round trips (``ReadyForQuery`` received) and protocol messages (both ways) per read of ``keys``."""
    from psycopg import pq

    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(
            os.dup(trace.fileno())
        )  # libpq's FILE owns the copy (closed with the process)
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            read(keys)
        finally:
            conn.pgconn.untrace()  # (flushes the trace)
        trace.seek(0)
        lines = [line.split("\t") for line in trace.read().decode().splitlines()]
    trips = sum(1 for fields in lines if fields[0] == "B" and fields[2] == "ReadyForQuery")
    return trips / len(keys), len(lines) / len(keys)
