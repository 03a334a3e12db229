"""CPU per W1 command in memory, archipel vs eventsourcing's save-only path: where wall time goes.

    .venv/bin/python bench/w1_cpu.py [--n 20000] [--rounds 3] [--opcodes]

``bench/core.py`` times the write loops on the wall clock; this runs the same
loops (``w1_archipel.build``, ``w1_eventsourcing.Accounts``; 100 warm-up
commands) in fresh interpreters, alternating the contenders within each
round, and reports what a shared machine's load moves least: the process's
CPU time per command (user and system), its garbage collections (count and
time per command, from ``gc.callbacks``), the GC-tracked objects each command
leaves behind, and es-save's CPU over each contender's in the same round
(the median and range of the rounds).

``es-save, cached protocols`` is eventsourcing with ``typing._get_protocol_attrs``
cached: on Python 3.11 each ``isinstance`` against a runtime-checkable
``Protocol`` (eventsourcing makes two per save) walks the protocol's
attributes again, ~140 k instructions per command that run about twice as
fast per instruction as interpreted code. It is what separates callgrind's
instruction ratio (``w1_instructions.py``) from the ratio of times; Python
3.12 caches those attributes itself. ``--opcodes`` also counts the Python
bytecodes each command executes (``sys.settrace``, 200 commands; Python 3.11 only).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONTENDERS = ("archipel", "es-save", "es-save-cached")
LABELS = {"es-save-cached": "es-save, cached protocols"}


def _archipel() -> Callable[[int], Any]:
    from w1_archipel import build

    domain, _, open_account = build()
    context = domain.domain_context()
    context.__enter__()
    domain.setup_database()
    process = domain.process
    return lambda i: process(open_account(owner=f"owner-{i}"))


def _es_save(cached: bool) -> Callable[[int], Any]:
    os.environ.setdefault("PERSISTENCE_MODULE", "eventsourcing.popo")
    if cached:
        import functools
        import typing

        typing._get_protocol_attrs = functools.cache(typing._get_protocol_attrs)  # type: ignore[attr-defined]
    from w1_eventsourcing import Accounts

    app = Accounts()
    summaries: dict[Any, dict[str, str]] = {}
    counter = {"opened": 0}

    def step(i: int) -> Any:  # as w1_eventsourcing.main: save, then the handler and the projector
        account = app.open(f"owner-{i}")
        counter["opened"] += 1
        summaries[account.id] = {"owner": account.owner}
        return account.id

    return step


def _opcodes(step: Callable[[int], Any], n: int) -> float:
    count = [0]

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            count[0] += 1
        return tracer

    sys.settrace(tracer)
    for i in range(n):
        step(-1 - i)
    sys.settrace(None)
    return count[0] / n


def child(name: str, n: int, opcodes: bool) -> None:
    step = _archipel() if name == "archipel" else _es_save(cached=name == "es-save-cached")
    for i in range(100):  # warm up, as the timed workloads do
        step(-1000 - i)
    per_op = _opcodes(step, 200) if opcodes else None
    collections = [[0, 0.0] for _ in range(3)]
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            entry = collections[info["generation"]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started[0]

    gc.collect()
    tracked = len(gc.get_objects())
    gc.callbacks.append(on_gc)
    before = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(n):
        step(i)
    after = resource.getrusage(resource.RUSAGE_SELF)
    gc.callbacks.remove(on_gc)
    gc.collect()
    print(json.dumps({
        "user_us": (after.ru_utime - before.ru_utime) / n * 1e6,
        "sys_us": (after.ru_stime - before.ru_stime) / n * 1e6,
        "collections": [c for c, _ in collections],
        "gc_us": sum(t for _, t in collections) / n * 1e6,
        "tracked_per_command": (len(gc.get_objects()) - tracked) / n,
        "opcodes": per_op,
    }))


def run(name: str, n: int, opcodes: bool) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(HERE), env.get("PYTHONPATH", "")])
    command = [sys.executable, __file__, "--child", name, "--n", str(n)] + (["--opcodes"] if opcodes else [])
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(ROOT), check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="commands timed per run (default 20000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--opcodes", action="store_true", help="count the bytecodes per command too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.child:
        child(args.child, args.n, args.opcodes)
        return 0
    from _harness import load_average

    load_before = load_average()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    for round_no in range(args.rounds):
        for name in CONTENDERS:
            print(f"  round {round_no + 1}/{args.rounds}: {name} ...", file=sys.stderr, flush=True)
            runs[name].append(run(name, args.n, args.opcodes and round_no == 0))
    print(f"W1 in memory, CPU per command (N={args.n}, medians of {args.rounds} rounds), Python {sys.version.split()[0]}")
    print(f"machine: start {load_before}; end {load_average()}")
    anchor = [r["user_us"] + r["sys_us"] for r in runs["es-save"]]
    for name in CONTENDERS:
        cpu = [r["user_us"] + r["sys_us"] for r in runs[name]]
        ratios = sorted(a / c for a, c in zip(anchor, cpu, strict=True))
        med = statistics.median
        first = runs[name][0]
        opcodes = f", {first['opcodes']:.0f} bytecodes" if first["opcodes"] else ""
        print(
            f"{LABELS.get(name, name):>26}: {med(cpu):5.1f} us CPU (user {med(r['user_us'] for r in runs[name]):.1f},"
            f" system {med(r['sys_us'] for r in runs[name]):.1f}); es-save / it {med(ratios):.2f}x"
            f" ({ratios[0]:.2f}-{ratios[-1]:.2f}); GC {med(r['gc_us'] for r in runs[name]):.1f} us"
            f" ({'/'.join(str(c) for c in first['collections'])} collections),"
            f" {first['tracked_per_command']:.1f} tracked objects left{opcodes}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
