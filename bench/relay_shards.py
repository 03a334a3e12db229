"""Relay shards on PostgreSQL: taking them together, and the refetch of an outbox never analysed.

Session 15 (s15-loose), issue 16's loose ends, both measured in one process, the two
contenders alternating within each round (the machine is shared: the ratios count):

1. **Take and give back**: a relay taking ``S`` free relay shards one lease per transaction
   (a read of who holds what, then one transaction per shard: the relay before) against
   all of them in one (``LeaseStore.acquire_many``: one read, one write); then giving
   them back, one by one against ``release_many``. Wall ms per take and transactions.
2. **Refetch**: the direct relay's choice of rows of 2 of 4 shards (``locking``), 100 rows,
   4 000 pending, on an outbox never analysed (autovacuum off for it) and then analysed:
   the refetch by address as it was (``status = 'pending'``: the planner may walk a pending
   index) against ``status || ''`` (a Tid Scan). ms per statement (``BEGIN``, ``SHARD_PLAN``,
   the statement, ``ROLLBACK``) and shared buffers (``EXPLAIN (ANALYZE, BUFFERS)``).

    .venv/bin/python bench/relay_shards.py [--rounds 5] [--shards 4,16] [--repeat 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import load_average, ratios  # noqa: E402


def _domain(url: str) -> Any:
    from tests.sql.test_outbox_shard_claims import make_domain

    domain = make_domain(url, "database", relay_shards=4)
    with domain.domain_context():
        domain.setup_database()
    return domain


def _one_by_one(leases: Any, ids: list[str], owner: str) -> list[Any]:
    """The relay's take before session 15: one look, then a transaction per lease."""
    held = leases.held_by_others("relay", owner)
    return [lease for i in ids if i not in held and (lease := leases.acquire(i, "relay", owner, 60)) is not None]


def take(domain: Any, rounds: int, shard_counts: list[int]) -> None:
    from archipel.engine.leases import LeaseStore

    leases = LeaseStore(domain)
    print(f"\n## take and give back S free shards (ms per operation, median of {rounds} rounds)")
    print("| S | take one by one | take together | ratio | give back one by one | together | ratio |")
    print("|---|---|---|---|---|---|---|")
    for shards in shard_counts:
        took: dict[str, list[float]] = {"old": [], "new": []}
        gave: dict[str, list[float]] = {"old": [], "new": []}
        with domain.domain_context():
            for _ in range(rounds):
                for kind in ("old", "new"):
                    ids = [f"{domain.snake_name}/relay/bench-{uuid.uuid4().hex[:6]}/{n}" for n in range(shards)]
                    start = time.perf_counter()
                    if kind == "old":
                        held = _one_by_one(leases, ids, "w")
                    else:
                        held = leases.acquire_many(ids, "relay", "w", 60, shards)
                    took[kind].append((time.perf_counter() - start) * 1000)
                    assert len(held) == shards
                    start = time.perf_counter()
                    if kind == "old":
                        for lease in held:
                            leases.release(lease)
                    else:
                        leases.release_many(held)
                    gave[kind].append((time.perf_counter() - start) * 1000)
        t, g = ratios(took["old"], took["new"]), ratios(gave["old"], gave["new"])
        print(
            f"| {shards} | {statistics.median(took['old']):.2f} | {statistics.median(took['new']):.2f} "
            f"| {t[0]:.1f}× ({t[1]:.1f}–{t[2]:.1f}) | {statistics.median(gave['old']):.2f} "
            f"| {statistics.median(gave['new']):.2f} | {g[0]:.1f}× ({g[1]:.1f}–{g[2]:.1f}) |"
        )
    print("(transactions: take one by one 1 read + S commits, together 1 read + 1 commit; give back S against 1)")


def refetch(domain: Any, rounds: int, repeat: int) -> None:
    from tests.sql.test_outbox_shard_claims import record

    from archipel.adapters.sql.outbox_claim import SHARD_PLAN, ClaimStatements

    database = domain.providers.database()
    outbox = database.outbox()
    table = outbox.table.name
    engine = database.engine
    engine.run(lambda conn: conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    outbox.clear()
    outbox.add([record(n, f"shop::order-{n}") for n in range(4000)])
    old = ClaimStatements(engine, outbox.table)
    old._rechecked = old._pending  # type: ignore[method-assign]  # the refetch as it was
    sql = {"old": old.locking(2, False, 4), "new": ClaimStatements(engine, outbox.table).locking(2, False, 4)}
    params = {"limit": 100, "s0": 1, "s1": 3}

    def run(statement: str, explain: bool = False) -> Any:
        def work(conn: Any) -> Any:
            conn.execute("BEGIN")
            try:
                for setting in SHARD_PLAN:
                    conn.execute(setting)
                rows = conn.execute(("EXPLAIN (ANALYZE, BUFFERS) " if explain else "") + statement, params).fetchall()
                return rows
            finally:
                conn.execute("ROLLBACK")

        return engine.run(work)

    print(f"\n## the direct relay's choice of 100 rows of 2 of 4 shards, 4 000 pending (median ms of {repeat})")
    print("| outbox | refetch as it was | `status \\|\\| ''` | ratio | buffers as it was | buffers now |")
    print("|---|---|---|---|---|---|")
    for state in ("never analysed", "analysed"):
        if state == "analysed":
            engine.run(lambda conn: conn.execute(f"ANALYZE {table}"))
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(rounds):
            for kind in ("old", "new"):
                start = time.perf_counter()
                for _ in range(repeat):
                    run(sql[kind])
                times[kind].append((time.perf_counter() - start) * 1000 / repeat)
        buffers, scans = {}, {}
        for kind in ("old", "new"):
            plan = [r[0] for r in run(sql[kind], explain=True)]
            buffers[kind] = next(line for line in plan if "Buffers:" in line).split("hit=")[1].split()[0]
            refetch = plan[next(i for i, line in enumerate(plan) if "LockRows" in line) + 1:]
            scans[kind] = next(
                line.split("->")[1].split("  (")[0].strip().replace(f" on {table}", "")
                for line in refetch if "->" in line and "Scan" in line and "CTE" not in line
            )
        r = ratios(times["old"], times["new"])
        print(
            f"| {state} | {statistics.median(times['old']):.3f} | {statistics.median(times['new']):.3f} "
            f"| {r[0]:.2f}× ({r[1]:.2f}–{r[2]:.2f}) | {buffers['old']} | {buffers['new']} |"
        )
        print(f"  refetch {state}: as it was `{scans['old']}`, now `{scans['new']}`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--shards", default="4,16")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    from tests._servers import PostgresServer

    print(f"at start: {load_average()}")
    server = PostgresServer.launch()
    try:
        domain = _domain(server.url())
        take(domain, args.rounds, [int(s) for s in args.shards.split(",")])
        refetch(domain, args.rounds, args.repeat)
        domain.shutdown()
    finally:
        server.destroy()
    print(f"\nat end: {load_average()}")


if __name__ == "__main__":
    main()
