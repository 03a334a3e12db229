"""Shared helpers: run a workload in a subprocess, report ratios with spreads, profile on demand.

Every benchmark prints each figure as a ratio against its anchor measured in
the same run (contenders alternate within each round), with the spread over
rounds and the machine's load average at the start and the end: on a shared
machine only such ratios mean anything.

``--profile DIR`` (every benchmark) sets :data:`PROFILE_ENV`; the workload
processes then wrap their timed part in pyinstrument (:func:`profiled`) and
write ``DIR/<label>-<pid>.html`` and ``.txt``.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: directory for pyinstrument reports; set by ``--profile``, read by the workload processes
PROFILE_ENV = "ARCHIPEL_BENCH_PROFILE"


def run_workload(
    script: str, *args: str, timeout: float = 900.0, src: str | None = None, cpus: set[int] | None = None
) -> dict[str, Any]:
    """Run ``bench/<script>`` with ``args`` in a fresh interpreter; return its JSON line.

    ``src``: import archipel from that ``src`` folder (another tree's code, e.g. main's
    for an A/B run) instead of this tree's. ``cpus``: the CPUs the process may run on.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src or str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    # the scripts put their tree's src first on sys.path unless told which (BENCH_SRC)
    env["ARCHIPEL_BENCH_SRC"] = src or str(ROOT / "src")
    proc = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(ROOT),
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,  # noqa: PLW1509
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    last = [line for line in proc.stdout.splitlines() if line.startswith("{")][-1]
    return json.loads(last)  # type: ignore[no-any-return]


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def load_average() -> str:
    """``1-min 5-min 15-min`` load average, and the core count."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover - not on Linux
        return "load average unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def ratios(values: Sequence[float], anchors: Sequence[float]) -> tuple[float, float, float]:
    """Median, lowest and highest per-round ratio of ``values`` to ``anchors`` (same rounds)."""
    per_round = [v / a for v, a in zip(values, anchors, strict=False) if a]
    if not per_round:
        return 0.0, 0.0, 0.0
    return statistics.median(per_round), min(per_round), max(per_round)


def spread(values: Sequence[float], fmt: str = ".2f") -> str:
    """``median (min-max)`` of ``values``."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:{fmt}}"
    return f"{med:{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def add_profile_flag(parser: object) -> None:
    """Add ``--profile DIR`` to an ``argparse`` parser."""
    parser.add_argument(  # type: ignore[attr-defined]
        "--profile",
        metavar="DIR",
        help="write a pyinstrument report of every workload's timed part into DIR",
    )


def enable_profiling(directory: str | None) -> None:
    """Make the workload processes started from now on profile themselves into ``directory``."""
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(Path(directory).resolve())
        print(f"profiles go to {os.environ[PROFILE_ENV]}", file=sys.stderr)


def rss_bytes() -> int:
    """The process's resident set size now (Linux ``/proc/self/statm``), 0 elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover - not on Linux
        return 0


class MemoryGrowth:
    """What a block adds to the heap: traced bytes (``traced=True``) and RSS, after a collection.

    With ``traced`` the block runs under :mod:`tracemalloc` (2-3x slower: never
    for a timed figure); ``top`` keeps the biggest growth by source line.
    """

    def __init__(self, traced: bool = False, top: int = 0) -> None:
        self.traced = traced
        self.top = top
        self.traced_bytes = 0
        self.rss_bytes = 0
        self.lines: list[tuple[str, int, int]] = []

    def __enter__(self) -> MemoryGrowth:
        import gc
        import tracemalloc

        gc.collect()
        if self.traced:
            tracemalloc.start(1)
            self._before = tracemalloc.take_snapshot()
        self._rss = rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        import gc
        import linecache
        import tracemalloc

        gc.collect()
        self.rss_bytes = rss_bytes() - self._rss
        if self.traced:
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            stats = after.compare_to(self._before, "lineno")
            self.traced_bytes = sum(stat.size_diff for stat in stats)
            for stat in stats[: self.top]:
                frame = stat.traceback[0]
                where = f"{frame.filename.split('/src/')[-1]}:{frame.lineno}"
                code = linecache.getline(frame.filename, frame.lineno).strip()[:60]
                self.lines.append((f"{where} {code}", stat.size_diff, stat.count_diff))

    def report(self) -> dict[str, object]:
        """JSON-friendly figures for the workload's output line."""
        out: dict[str, object] = {"rss_growth": self.rss_bytes}
        if self.traced:
            out["traced_growth"] = self.traced_bytes
            out["traced_lines"] = self.lines
        return out


class Timed:
    """Wall and CPU time of a block, and the garbage collections run inside it (``gc.callbacks``).

    CPU time (``time.process_time``: user + system of this process) is what another
    process's load moves least; comparing the wall and the CPU ratio of one round tells a
    contender's slow code from its bad luck with the scheduler. A callback runs only when a
    collection does, so a block without collections pays nothing for being watched.
    """

    def __init__(self) -> None:
        self.wall = self.cpu = self.gc_s = 0.0
        self.collections = [0, 0, 0]
        self._gc_started = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        import time

        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.collections[info["generation"]] += 1
            self.gc_s += time.perf_counter() - self._gc_started

    def __enter__(self) -> Timed:
        import gc
        import time

        gc.callbacks.append(self._on_gc)
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import gc
        import time

        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        gc.callbacks.remove(self._on_gc)

    def report(self, n: int, prefix: str = "write") -> dict[str, object]:
        """``<prefix>_cpu_ops`` (operations per CPU second), ``<prefix>_cpu_share`` (CPU / wall:
        1.0 when the process had a core to itself all along), GC seconds and collections."""
        return {
            f"{prefix}_cpu_ops": n / self.cpu if self.cpu else 0.0,
            f"{prefix}_cpu_share": self.cpu / self.wall if self.wall else 0.0,
            f"{prefix}_gc_s": self.gc_s,
            f"{prefix}_collections": self.collections,
        }


@contextlib.contextmanager
def profiled(label: str) -> Iterator[None]:
    """Profile the block with pyinstrument when ``--profile`` asked for it (else nothing)."""
    directory = os.environ.get(PROFILE_ENV)
    if not directory:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        base = Path(directory) / f"{label}-{os.getpid()}"
        base.with_suffix(".html").write_text(profiler.output_html())
        base.with_suffix(".txt").write_text(profiler.output_text(unicode=False, color=False))
