"""Production latency under a bulk flood: the timing goal of priority lanes (not a test).

    python bench/lanes.py [--bulk 4000] [--production 15] [--delay 0.005]

The bank of the engine tests (``tests/engine/bank.py``) on an SQLite file
with the database broker, ``priority_lanes = true``, 50 messages per tick:
``--bulk`` deposits are submitted in the bulk lane, one worker starts (the
projector sleeps ``--delay`` s per event), and once the flood is under way
``--production`` deposits are submitted one at a time, each timed from
``process()`` until its ledger row exists.

Goal (from the former test ``test_bulk_flood_does_not_delay_production``):
median latency < 0.5 s and maximum < 1.5 s while bulk work is still waiting.
Exits 1 when the goal is missed. Timings depend on the machine: run it on
an idle one; the test in ``tests/reliability`` asserts the order and counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "src"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bulk", type=int, default=4000)
    parser.add_argument("--production", type=int, default=15)
    parser.add_argument("--delay", type=float, default=0.005)
    args = parser.parse_args(argv)
    os.environ["ARCHIPEL_TEST_DELAY"] = str(args.delay)

    from tests.engine.bank import build_bank

    from archipel.engine import EngineSettings, Worker, lanes

    folder = Path(tempfile.mkdtemp(prefix="archipel-lanes-"))
    storage = {"provider": "sqlite", "database_uri": f"sqlite:///{folder / 'bank.db'}"}
    bank = build_bank(f"Lanes{uuid.uuid4().hex[:6]}", {
        "databases": {"default": storage},
        "event_store": storage,
        "brokers": {"default": {"provider": "database"}},
        "command_processing": "sync",
        "event_processing": "async",
        "server": {"priority_lanes": True, "messages_per_tick": 50, "partitions": 4,
                   "stream_subscription": {"blocking_timeout_ms": 20}},
    })
    bank.init(traverse=False)
    deposit = bank.elements["Deposit"]  # type: ignore[attr-defined]
    ledger = bank.query_for(bank.elements["Ledger"])  # type: ignore[attr-defined]
    with bank.domain_context():
        bank.setup_database()
        with lanes.bulk():
            for n in range(args.bulk):
                bank.process(deposit(account_id=f"bulk-{n % 300}", amount=1, seq=n // 300 + 1))

    def handled() -> int:
        with bank.domain_context():
            return sum(len(row.seqs) for row in ledger.query.limit(100_000).all().items)

    worker = Worker(bank, EngineSettings.from_config(bank.config)).start()
    try:
        while handled() < 100:
            time.sleep(0.05)
        latencies = []
        for n in range(args.production):
            started = time.monotonic()
            with bank.domain_context():
                bank.process(deposit(account_id=f"prod-{n}", amount=1, seq=1))
                while ledger.get_or_none(f"prod-{n}") is None:
                    time.sleep(0.002)
            latencies.append(time.monotonic() - started)
        backlog = args.bulk - (handled() - args.production)
    finally:
        worker.stop()
        bank.shutdown()
    latencies.sort()
    result = {"p50_s": round(latencies[len(latencies) // 2], 3), "max_s": round(latencies[-1], 3),
              "bulk_waiting": backlog}
    print(f"production latency under a bulk flood: p50 {result['p50_s']}s, max {result['max_s']}s, "
          f"{backlog} bulk deposits still waiting (goal: p50 < 0.5s, max < 1.5s, backlog > 0)")
    print(json.dumps(result))
    return 0 if result["p50_s"] < 0.5 and result["max_s"] < 1.5 and backlog > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
