"""Core benchmark (W1, in memory): archipel vs eventsourcing vs protean, side by side.

W1: N commands, each creating an aggregate that raises one event handled by
one event handler and one projector; then N loads by id. Every workload runs
in a fresh interpreter; the contenders alternate within each round so that
machine noise hits all alike; medians are reported.

eventsourcing runs twice: ``es`` is the same workload with its own handler
machinery (a System of two follower ProcessApplications under the
SingleThreadedRunner); ``es-save`` only creates and saves the aggregate and
calls the handler and projector as plain functions: its write floor, which
does less work than W1 asks.

    python bench/core.py                 # N = 1k, 10k, 100k; 3 rounds
    python bench/core.py --quick         # N = 1k, 10k; 1 round (smoke)
    python bench/core.py --sizes 10000,100000 --rounds 7 --no-protean --no-es   # the target's ratio only

archipel and es-save run back to back in each round (the one that goes first
alternates), so both see the same stretch of the machine's load; each round
prints its wall ratio (the target's) beside its CPU ratio (``process_time``)
and each contender's garbage collections in the timed loop.

Memory: every timed run reports its RSS growth over the write phase (after a
collection); one more run per contender at the largest N measures the heap
growth with tracemalloc (untimed: tracing slows allocation), printed per
aggregate and as a ratio to eventsourcing's save-only path (its store holds
the one event; archipel's holds the aggregate row, the event, the command
and the projection row). ``--memory-lines K`` prints the K source lines that
grew most.

Targets (issue 2): write >= 1.5x eventsourcing, read >= 1.3x, archipel flat
from 1k to 100k (+-20 %). Issue 16: write >= 1.5x es-save in every run;
memory growth <= 1.1x es-save.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    add_profile_flag,
    enable_profiling,
    load_average,
    ratio,
    ratios,
    run_workload,
)

CONTENDERS = (
    ("archipel", "w1_archipel.py"),
    ("es", "w1_eventsourcing_system.py"),
    ("es-save", "w1_eventsourcing.py"),
)


def round_order(round_no: int, no_es: bool = False) -> list[tuple[str, str]]:
    """The contenders of one round: archipel and es-save back to back (the target's ratio:
    the same stretch of the machine's load for both), which goes first alternating by
    round; es (the System, ~3x slower) after them."""
    archipel, es, es_save = CONTENDERS
    pair = [archipel, es_save] if round_no % 2 == 0 else [es_save, archipel]
    return pair if no_es else [*pair, es]


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 1k and 10k, one round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--sizes", type=str, default=None, help="comma-separated N values")
    parser.add_argument("--no-protean", action="store_true", help="skip protean (slow: quadratic)")
    parser.add_argument("--no-es", action="store_true", help="skip es (eventsourcing's System): its column reads -")
    parser.add_argument("--no-memory", action="store_true", help="skip the traced memory runs")
    parser.add_argument("--memory-lines", type=int, default=0, metavar="K",
                        help="print the K source lines whose allocations grew most")
    add_profile_flag(parser)
    args = parser.parse_args()
    enable_profiling(args.profile)
    load_before = load_average()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    )
    rounds = args.rounds or (1 if args.quick else 3)

    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for round_no in range(rounds):
        for n in sizes:
            for name, script in round_order(round_no, args.no_es):
                print(f"  round {round_no + 1}/{rounds}: {name} N={n} ...", file=sys.stderr, flush=True)
                results.setdefault((name, n), []).append(run_workload(script, str(n)))
    traced: dict[str, dict[str, Any]] = {}
    if not args.no_memory:
        for name, script in (CONTENDERS[0], CONTENDERS[2]):
            print(f"  traced memory: {name} N={sizes[-1]} ...", file=sys.stderr, flush=True)
            traced[name] = run_workload(script, str(sizes[-1]), "--memory")
    protean: dict[int, dict[str, float]] = {}
    if not args.no_protean:
        for n in (250, 500):
            print(f"  protean N={n} ...", file=sys.stderr, flush=True)
            protean[n] = run_workload("w1_protean.py", str(n))

    print("\nW1 in memory: commands/s (write) and loads/s (read), medians of", rounds, "round(s)")
    print(f"machine: start {load_before}; end {load_average()}")
    header = (
        f"{'N':>8} | {'archipel':>9} {'es':>9} {'ratio':>7} {'es-save':>9} {'ratio':>7} |"
        f" {'archipel r':>10} {'es r':>9} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    writes = {}
    for n in sizes:
        a, e, f = (results.get((name, n), []) for name, _ in CONTENDERS)
        aw, fw, ar = median_of(a, "write_ops"), median_of(f, "write_ops"), median_of(a, "read_ops")
        ew, er = (median_of(e, "write_ops"), median_of(e, "read_ops")) if e else (0.0, 0.0)
        writes[n] = aw
        print(
            f"{n:>8} | {aw:>9,.0f} {ew:>9,.0f} {ratio(aw, ew):>7} {fw:>9,.0f} {ratio(aw, fw):>7} |"
            f" {ar:>10,.0f} {er:>9,.0f} {ratio(ar, er):>7}"
        )
    for n in sizes:
        a, f = results[("archipel", n)], results[("es-save", n)]
        med, low, high = ratios([r["write_ops"] for r in a], [r["write_ops"] for r in f])
        print(f"N={n}: archipel / es-save writes per round {med:.2f}x ({low:.2f}-{high:.2f}) "
              "(target >= 1.5x in every run)")
        walls = " ".join(f"{x['write_ops'] / y['write_ops']:.2f}" for x, y in zip(a, f, strict=True))
        cpus = " ".join(f"{x['write_cpu_ops'] / y['write_cpu_ops']:.2f}" for x, y in zip(a, f, strict=True))
        shares = " ".join(f"{x['write_cpu_share']:.2f}/{y['write_cpu_share']:.2f}" for x, y in zip(a, f, strict=True))
        print(f"  per round, wall: {walls}; CPU (process_time): {cpus}")
        print(f"  per round, CPU / wall of archipel/es-save (1.00: a core to itself): {shares}")
        for label, runs in (("archipel", a), ("es-save", f)):
            gc_us = statistics.median(r["write_gc_s"] for r in runs) / n * 1e6
            counts = "/".join(str(c) for c in runs[0]["write_collections"])
            print(f"  {label}: GC {gc_us:.2f} us per command ({counts} collections, gen 0/1/2), "
                  f"CPU {median_of(runs, 'write_cpu_ops'):,.0f} commands per CPU second")
    for n, r in protean.items():
        print(f"protean N={n}: write {r['write_ops']:,.1f}/s, read {r['read_ops']:,.1f}/s "
              f"(archipel at N={sizes[0]}: {ratio(writes[sizes[0]], r['write_ops'])} writes)")
    n = sizes[-1]
    a, f = results[("archipel", n)], results[("es-save", n)]
    med, low, high = ratios([r["rss_growth"] for r in a], [r["rss_growth"] for r in f])
    print(f"N={n}: RSS growth over the writes: archipel {median_of(a, 'rss_growth') / 1e6:.1f} MB, "
          f"es-save {median_of(f, 'rss_growth') / 1e6:.1f} MB: {med:.2f}x ({low:.2f}-{high:.2f})")
    if traced:
        mine, theirs = traced["archipel"]["traced_growth"], traced["es-save"]["traced_growth"]
        print(f"N={n}: heap growth (tracemalloc): archipel {mine / 1e6:.1f} MB = {mine / n:.0f} B/aggregate, "
              f"es-save {theirs / 1e6:.1f} MB = {theirs / n:.0f} B/aggregate: {mine / theirs:.2f}x "
              "(target <= 1.1x)")
        for name in ("archipel", "es-save") if args.memory_lines else ():
            print(f"  {name}, B/aggregate and objects/aggregate by line:")
            for where, size, count in traced[name]["traced_lines"][: args.memory_lines]:
                print(f"    {size / n:7.0f} {count / n:5.2f}  {where}")
    if len(sizes) > 1:
        first, last = writes[sizes[0]], writes[sizes[-1]]
        drift = (last - first) / first * 100
        print(f"archipel write rate N={sizes[-1]} vs N={sizes[0]}: {drift:+.1f} % (target within +-20 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
