"""What OpenTelemetry tracing costs: off (the default) versus on, in one process.

    python bench/tracing.py [--commands 3000] [--rounds 3]

Two workloads on the memory adapters (no I/O, so the overhead shows fully):

1. *sync*: ``domain.process(Deposit)``, handled in place (command, aggregate, event,
   projector inline through the dispatcher);
2. *engine*: the same commands queued (async), then ``run_server(test_mode=True)``
   relays and handles them (command handler + projector: two consumed messages each).

Each runs with tracing off, then on (an SDK ``TracerProvider`` whose spans go to a
no-op processor: the cost of creating spans and headers, not of exporting them).
Off costs one attribute test per instrumented place (``tracer is None``): the
last line measures that test alone and how many of them one command meets.
Rounds alternate off/on; the best of each is reported. Only ratios of one run mean
anything on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(ROOT / "src")):
    if path not in sys.path:
        sys.path.insert(0, path)

MEMORY = {"databases": {"default": {"provider": "memory"}}, "event_store": {"provider": "memory"}}
ASYNC = {
    **MEMORY,
    "brokers": {"default": {"provider": "inline"}},
    "command_processing": "async",
    "event_processing": "async",
    "server": {"partitions": 1, "stream_subscription": {"blocking_timeout_ms": 5}},
}


def _bank(config: dict[str, Any]) -> Any:
    from tests.engine.bank import build_bank

    bank = build_bank(f"Bench{uuid.uuid4().hex[:6]}", config)
    bank.init(traverse=False)
    with bank.domain_context():
        bank.setup_database()
    return bank


def sync_run(commands: int) -> float:
    bank = _bank({**MEMORY, "command_processing": "sync", "event_processing": "sync"})
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        started = time.perf_counter()
        for n in range(commands):
            bank.process(deposit(account_id=f"a{n % 50}", amount=1, seq=n))
        elapsed = time.perf_counter() - started
    bank.shutdown()
    return commands / elapsed


def engine_run(commands: int) -> float:
    from archipel.engine import run_server

    bank = _bank(ASYNC)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        for n in range(commands):
            bank.process(deposit(account_id=f"a{n % 50}", amount=1, seq=n))
        started = time.perf_counter()
        assert run_server(bank, test_mode=True) == 0
        elapsed = time.perf_counter() - started
    bank.shutdown()
    return commands / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from archipel.utils import tracing

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Discard()))
    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for label, on in (("off", False), ("on", True)):
            if on:
                tracing.enable_tracing(provider)
            else:
                tracing.disable_tracing()
            results.setdefault(f"sync_{label}", []).append(sync_run(args.commands))
            results.setdefault(f"engine_{label}", []).append(engine_run(args.commands // 3))
    tracing.disable_tracing()
    best = {key: max(values) for key, values in results.items()}
    check_ns = min(timeit.repeat("tracing.tracer is not None", globals={"tracing": tracing}, number=1_000_000, repeat=5)) * 1000
    # per command, tracing-off tests met: process + unit of work (sync); engine: relay batch,
    # and per consumed message (2 per command) one in the consumer and one in the unit of work
    per_command_checks = {"sync": 2, "engine": 5}
    report = {
        **{f"{k}_per_s": round(v, 1) for k, v in best.items()},
        "sync_on_overhead_pct": round((best["sync_off"] / best["sync_on"] - 1) * 100, 1),
        "engine_on_overhead_pct": round((best["engine_off"] / best["engine_on"] - 1) * 100, 1),
        "off_check_ns": round(check_ns, 1),
        "off_cost_pct_sync": round(per_command_checks["sync"] * check_ns / (1e9 / best["sync_off"]) * 100, 4),
        "off_cost_pct_engine": round(per_command_checks["engine"] * check_ns / (1e9 / best["engine_off"]) * 100, 4),
    }
    for key, value in report.items():
        print(f"{key:>24}: {value}", file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
