"""A timeline of one engine worker process (``engine.py --trace DIR``): what each thread did when.

Wraps (in the benchmark's worker process only) the engine's steps — the
relay's claim, its tick (claim ahead + publish), its mark-sent, the direct
relay's move; the consumer's read; a partition's batch commit and its
acknowledgement; every doorbell wait (a thread idle until something rings) —
and records for each call ``(thread, step, start, wall seconds, thread CPU
seconds, entries)``. At exit it writes ``DIR/trace-<pid>.json``;
:func:`summarise` turns the files of one run into, per worker and thread,
the share of the timed window spent in each step, waiting in it (wall minus
CPU: the database, the broker, the GIL) and idle, with the entries each
worker handled.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["install", "summarise"]


def install(directory: str) -> None:
    """Record this worker's timeline until exit (called in the worker, before it starts)."""
    from archipel.engine.consumer import Consumer
    from archipel.engine.partition_run import PartitionRunner
    from archipel.engine.relay import OutboxRelay
    from archipel.engine.run_threads import RunThreads
    from archipel.utils.doorbell import Doorbell

    #: (thread, step, start, wall s, thread CPU s, entries or [entries, detail])
    calls: list[tuple[str, str, float, float, float, Any]] = []
    lock = threading.Lock()

    def wrap(owner: Any, attribute: str, step: str, count: Any = None) -> None:
        function = getattr(owner, attribute)

        def traced(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.time(), time.thread_time()
            out, done = None, False
            try:
                out = function(*args, **kwargs)
                done = True
                return out
            finally:
                n: Any = 0
                if count is not None and done:
                    try:
                        n = count(args, out)
                    except Exception:  # noqa: BLE001 - a count is only a count
                        n = 0
                record = (threading.current_thread().name, step, wall, time.time() - wall,
                          time.thread_time() - cpu, n)
                with lock:
                    calls.append(record)

        setattr(owner, attribute, traced)

    wrap(OutboxRelay, "_claim_rows", "relay claim", lambda a, out: [len(out.rows), sorted(a[2])])
    wrap(OutboxRelay, "_relay", "relay tick", lambda a, out: out)
    wrap(OutboxRelay, "_mark_sent", "relay mark", lambda a, out: len(a[2]))
    try:
        from archipel.adapters.sql.outbox_direct import DirectRelay

        wrap(DirectRelay, "move", "direct move", lambda a, out: len(out))
    except ImportError:
        pass
    wrap(Consumer, "_fill", "consumer fill", lambda a, out: [0, sorted(a[0].parts)])
    wrap(Consumer, "_enqueue", "consumer enqueue", lambda a, out: len(a[1]))
    wrap(RunThreads, "_run", "partition run", lambda a, out: out)
    wrap(PartitionRunner, "commit", "batch", lambda a, out: len(a[2]))
    wrap(PartitionRunner, "ack", "ack", lambda a, out: len(a[1]))
    wrap(Doorbell, "wait", "doorbell wait", lambda a, out: [0, a[2], list(a[3]) if len(a) > 3 and a[3] else None, out])
    from archipel.utils.doorbell import BROKER, bell

    broker_bell = bell(BROKER)
    wrap(Doorbell, "ring", "ring", lambda a, out: [0, "broker" if a[0] is broker_bell else "outbox",
                                                    sorted(a[1]) if len(a) > 1 and a[1] is not None else None])
    try:
        from archipel.engine import invoke

        wrap(invoke.Batch, "commit", "batch COMMIT")
        wrap(invoke, "processed_among", "processed look-up")
    except (ImportError, AttributeError):
        pass
    _statements(calls, lock)
    _probe(calls, lock)

    def dump() -> None:
        with lock:
            out = list(calls)
        Path(directory, f"trace-{os.getpid()}.json").write_text(json.dumps(out))

    atexit.register(dump)


def _statements(calls: list[Any], lock: Any) -> None:
    """Each statement a partition thread sends to PostgreSQL, timed on the client (``sql <verb>``):
    wall from the call to the answer (the server's work, the wire, the wake-up, the GIL) and the
    thread's CPU meanwhile; the statements of a batch's ``COMMIT`` are its buffered writes."""
    try:
        import psycopg
    except ImportError:
        return

    execute = psycopg.Cursor.execute

    def traced(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        thread = threading.current_thread().name
        if not thread.startswith("archipel-"):
            return execute(self, query, *args, **kwargs)
        wall, cpu = time.time(), time.thread_time()
        try:
            return execute(self, query, *args, **kwargs)
        finally:
            text = query if isinstance(query, str) else getattr(query, "as_string", lambda _c: str(query))(None)
            words = str(text).split()
            verb = " ".join(words[:3] if words[:1] == ["INSERT"] else words[:2] if words[:1] == ["UPDATE"]
                            else words[:1])
            record = (thread, f"sql {verb[:40]}", wall, time.time() - wall, time.thread_time() - cpu, 0)
            with lock:
                calls.append(record)

    psycopg.Cursor.execute = traced  # type: ignore[method-assign]


def _probe(calls: list[Any], lock: Any) -> None:
    """A thread sleeping 1 ms at a time (``probe late``): how much later than asked it runs again
    is what a thread whose I/O ended waits for the CPU and the GIL (a probe in a process of its
    own, ``python bench/_trace.py probe``, waits for the CPU only)."""

    def probe() -> None:
        while True:
            wall, cpu = time.time(), time.thread_time()
            time.sleep(0.001)
            record = ("probe", "probe late", wall, time.time() - wall - 0.001, time.thread_time() - cpu, 0)
            with lock:
                calls.append(record)

    threading.Thread(target=probe, name="probe", daemon=True).start()


def summarise(directory: str, since: float, until: float) -> list[str]:
    """Lines: per worker process and thread, what the window ``[since, until]`` went to."""
    lines = []
    for path in sorted(Path(directory).glob("trace-*.json")):
        calls = json.loads(path.read_text())
        window = until - since
        by_thread: dict[str, dict[str, list[float]]] = {}
        handled = 0
        for thread, step, start, wall, cpu, n in calls:
            n = n[0] if isinstance(n, list) else n
            end = start + wall
            if end < since or start > until:
                continue
            share = max(0.0, min(end, until) - max(start, since)) / wall if wall > 0 else 1.0
            total = by_thread.setdefault(_role(thread), {}).setdefault(step, [0.0, 0.0, 0.0, 0.0])
            total[0] += wall * share
            total[1] += cpu * share
            total[2] += 1
            total[3] += n
            if step == "batch":
                handled += n
        lines.append(f"worker {path.stem.split('-')[1]}: {handled} entries committed in the window "
                     f"({window:.2f} s)")
        for role, steps in sorted(by_thread.items()):
            parts = []
            for step, (wall, cpu, count, n) in sorted(steps.items(), key=lambda kv: -kv[1][0]):
                parts.append(f"{step} {100 * wall / window:.0f}% (cpu {100 * cpu / window:.0f}%, "
                             f"{count:.0f} calls{', %.0f each' % (n / count) if n and count else ''}"
                             f"{f'; {1e3 * wall / count:.2f} ms, cpu {1e3 * cpu / count:.2f} ms a call' if count else ''})")
            lines.append(f"  {role}: " + "; ".join(parts))
    return lines


def _role(thread: str) -> str:
    """A pool thread's name without its number (``archipel-Summaries_2`` -> ``... runs``)."""
    import re

    return re.sub(r"_\d+$", " runs", thread)


if __name__ == "__main__":  # python bench/_trace.py probe SECONDS: the lateness of a lone process's 1 ms sleeps
    import statistics
    import sys

    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    late: list[float] = []
    end = time.time() + seconds
    while time.time() < end:
        start = time.time()
        time.sleep(0.001)
        late.append(time.time() - start - 0.001)
    print(f"lone probe: {len(late)} sleeps of 1 ms, late {1e3 * statistics.mean(late):.3f} ms mean, "
          f"{1e3 * statistics.median(late):.3f} median, {1e3 * max(late):.1f} max")
