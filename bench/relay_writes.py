"""PostgreSQL's cost per relayed outbox row: row leases (claim + mark) against one write (read + fenced mark).

Session 17 (s17-relay), issue 16 point 2. In one process, on one throwaway PostgreSQL
(pg_stat_statements loaded), the two ways of relaying alternate within each round on
fresh rows (``--rows`` per round and contender, of which those of ``--held`` of 4 relay
shards are relayed, in batches of ``--batch``, each batch marked after the next one is taken,
as the relay does):

- ``claim``: ``SqlOutbox.claim_encoded`` (a row lease written into each row, HOT) then
  ``mark_sent`` (the row written again: status, never HOT) — the relay before;
- ``read``: ``SqlOutbox.read_claimable`` (nothing written; the ids in flight skipped)
  then ``mark_sent`` with a ``ShardFence`` (the mark reads the shard leases) — the relay now.

Per relayed row: WAL bytes (``pg_current_wal_lsn``) and records, shared buffers touched
and execution time of the relay's statements (``pg_stat_statements``), and the CPU of every
PostgreSQL process (``/proc``: the backends, the WAL writer, ...). Only the relaying is
measured, not the inserts. Ratios are ``claim / read`` of the same round.

    .venv/bin/python bench/relay_writes.py [--rounds 5] [--rows 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import load_average  # noqa: E402

SHARDS = 4
_TICKS = os.sysconf("SC_CLK_TCK")


def _pg_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster and its children so far (the children alive now)."""
    total = 0.0
    pids = [postmaster]
    try:
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        pids += [int(p) for p in children]
    except OSError:
        pass
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def _record(n: int) -> dict[str, Any]:
    account = f"acc-{n % 997}"
    return {
        "message_id": str(uuid.uuid4()),
        "stream": f"bench::account-{account}",
        "type": "Bench.AccountOpened.v1",
        "priority": 0,
        "correlation_id": str(uuid.uuid4()),
        "message": {
            "metadata": {"id": str(uuid.uuid4()), "type": "Bench.AccountOpened.v1", "stream": f"bench::account-{account}",
                         "kind": "EVENT", "version": "v1", "sequence_id": "0.1", "timestamp": "2026-12-07 21:00:00+00:00"},
            "data": {"account_id": account, "holder": f"holder {n}", "balance": 100},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--held", type=int, default=2, help=f"relay shards held, of {SHARDS} (the rows of all)")
    parser.add_argument("--analyse", action="store_true", help="ANALYZE the outbox once its rows are in")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS, WAL) of each statement")
    args = parser.parse_args()
    from tests._servers import PostgresServer
    from tests.sql.test_outbox_shard_claims import make_domain

    from archipel.engine.leases import LeaseStore
    from archipel.port.outbox import ShardFence

    print(f"at start: {load_average()}")
    server = PostgresServer.launch(settings={"shared_preload_libraries": "'pg_stat_statements'"})
    try:
        domain = make_domain(server.url(), "inline", relay_shards=SHARDS)
        with domain.domain_context():
            domain.setup_database()
            engine = domain.providers.database().engine
            outbox = domain.providers.database().outbox()
            engine.run(lambda conn: conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            leases = LeaseStore(domain)
            mine = list(range(args.held))
            held = [leases.acquire(f"{domain.snake_name}/relay/default/{s}", "relay", "relay", 3600) for s in mine]
            fence = ShardFence(leases.schema.table, "relay", SHARDS, tuple((x.id, x.token, s) for s, x in enumerate(held) if x))
            postmaster = int((server.datadir / "postmaster.pid").read_text().split()[0])

            def lsn() -> int:
                return int(engine.run(lambda conn: conn.execute(
                    "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0]))

            def statements() -> tuple[float, int, int]:
                row = engine.run(lambda conn: conn.execute(
                    "SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(shared_blks_hit + shared_blks_read), 0),"
                    " coalesce(sum(wal_records), 0) FROM pg_stat_statements"
                    " WHERE query ILIKE '%%' || %(t)s || '%%' AND query NOT ILIKE 'INSERT%%'",
                    {"t": outbox.table.name}).fetchone())
                return float(row[0]), int(row[1]), int(row[2])

            def relay(way: str) -> None:
                """As the relay does: the next batch is taken while the last one is still unmarked."""
                unmarked: list[int] = []
                while True:
                    if way == "claim":
                        rows = outbox.claim_encoded("relay", limit=args.batch, lease_seconds=600,
                                                    shards=mine, of=SHARDS)
                    else:
                        rows = outbox.read_claimable(limit=args.batch, shards=mine, of=SHARDS,
                                                     skip=unmarked, encoded=True)
                    if unmarked:
                        if way == "claim":
                            outbox.mark_sent(unmarked, "relay")
                        else:
                            outbox.mark_sent(unmarked, "relay", fence=fence)
                    unmarked = [r["id"] for r in rows]
                    if not rows:
                        return

            results: dict[str, dict[str, list[float]]] = {w: {} for w in ("claim", "read")}
            for round_ in range(args.rounds):
                ways = ("claim", "read") if round_ % 2 == 0 else ("read", "claim")
                for way in ways:
                    for start in range(0, args.rows, 1000):
                        outbox.add([_record(n) for n in range(start, min(args.rows, start + 1000))])
                    if args.analyse:
                        engine.run(lambda conn: conn.execute(f"ANALYZE {outbox.table.name}"))
                    engine.run(lambda conn: conn.execute("SELECT pg_stat_statements_reset()"))
                    wal, cpu, began = lsn(), _pg_cpu(postmaster), time.perf_counter()
                    relay(way)
                    wall = time.perf_counter() - began
                    cpu, wal = _pg_cpu(postmaster) - cpu, lsn() - wal
                    exec_ms, buffers, records = statements()
                    n = args.rows - outbox.pending_count()  # the rows of the shards held
                    found = results[way]
                    for key, value in (("wal bytes", wal / n), ("wal records", records / n),
                                       ("buffers", buffers / n), ("exec us", exec_ms * 1000 / n),
                                       ("PG CPU us", cpu * 1e6 / n), ("wall us", wall * 1e6 / n)):
                        found.setdefault(key, []).append(value)
                    outbox.clear()
                    engine.run(lambda conn: conn.execute(f"VACUUM {outbox.table.name}"))
            print(f"\n{args.rounds} rounds, {args.rows} rows per round and way, batches of {args.batch}, "
                  f"{args.held} of {SHARDS} relay shards held{', analysed' if args.analyse else ''}; "
                  "per relayed row, median (low-high):")
            print("| per row | claim + mark (before) | read + fenced mark (now) | before / now |")
            print("|---|---|---|---|")
            for key in results["claim"]:
                old, new = results["claim"][key], results["read"][key]
                ratio = sorted(o / x for o, x in zip(old, new, strict=True) if x)
                mid = statistics.median(ratio) if ratio else float("nan")
                print(f"| {key} | {statistics.median(old):.1f} ({min(old):.1f}-{max(old):.1f}) "
                      f"| {statistics.median(new):.1f} ({min(new):.1f}-{max(new):.1f}) "
                      f"| {mid:.2f}x ({ratio[0]:.2f}-{ratio[-1]:.2f}) |")
            if args.explain:
                _explain(outbox, engine, fence, args.batch, _record)
        domain.shutdown()
    finally:
        server.destroy()
    print(f"\nat end: {load_average()}")


def _explain(outbox: Any, engine: Any, fence: Any, batch: int, record: Any) -> None:
    """EXPLAIN (ANALYZE, BUFFERS, WAL) of a claim and a mark, then of a read and a fenced mark."""
    from archipel.adapters.sql.outbox_fenced import _MARK

    quote = engine.engine.dialect.identifier_preparer.quote
    for way in ("claim", "read"):
        outbox.add([record(n) for n in range(batch)])
        if way == "claim":
            sql = outbox.claims.statement(0, False, True)
            params: dict[str, Any] = {"worker": "relay", "limit": batch, "lease": 600.0}
        else:
            sql = outbox.fenced._read_sql(0, False, True, 0)
            params = {"limit": batch, "skip": []}
        plan = engine.run(lambda conn, s=sql, p=params: conn.execute("EXPLAIN (ANALYZE, BUFFERS, WAL) " + s, p).fetchall())
        print(f"\n### {way}\n" + "\n".join(r[0] for r in plan))
        ids = [r["id"] for r in outbox.rows() if r["status"] == "pending"]
        if way == "claim":
            sql = outbox._ids_sql("sent", len(ids))
            params = {"ids": ids, "worker": "relay"}
        else:
            sql = _MARK.replace("@O@", quote(outbox.table.name)).replace("@L@", quote(fence.table))
            params = {"ids": ids, "of": fence.of, "lease_ids": [x[0] for x in fence.leases],
                      "tokens": [x[1] for x in fence.leases], "shards": [x[2] for x in fence.leases], "owner": fence.owner}
        plan = engine.run(lambda conn, s=sql, p=params: conn.execute("EXPLAIN (ANALYZE, BUFFERS, WAL) " + s, p).fetchall())
        print(f"\n### mark after {way}\n" + "\n".join(r[0] for r in plan))
        outbox.purge_sent(0)


if __name__ == "__main__":
    main()
