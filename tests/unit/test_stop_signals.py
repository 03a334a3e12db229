"""Stop signals relayed off the signal handler (:mod:`archipel.utils.signals`).

A handler that sets a ``threading.Event`` can hang the process for good: the
signal may land while the main thread is inside ``event.wait`` holding the
event's lock (``archipel server`` hung on SIGTERM about once in twenty-five
stops; a main thread looping on ``stop.wait(0)`` hangs more often than not).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import signal, sys, threading
    sys.path.insert(0, {src!r})
    from archipel.utils.signals import relay_signals

    stop = threading.Event()
    relay_signals([signal.SIGTERM], lambda signum: stop.set(), exit_on_second={second})
    print("ready", flush=True)
    while not stop.wait(0):  # the main thread is inside the event's lock most of the time
        pass
    print("stopped", flush=True)
    {after}
""")


def _child(second: str = "None", after: str = "") -> subprocess.Popen[str]:
    code = CHILD.format(src=str(ROOT / "src"), second=second, after=after)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def test_sigterm_stops_a_main_thread_waiting_on_the_stop_event_every_time() -> None:
    for _ in range(5):
        proc = _child()
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)  # a hang, not a speed limit
        finally:
            proc.kill()
        assert out == "stopped\n" and proc.returncode == 0


def test_a_second_signal_ends_the_process_at_once_with_the_given_status() -> None:
    # the first signal's stop is stuck (the process keeps going): the second one exits
    proc = _child(second="3", after="import time; time.sleep(60)")
    assert proc.stdout is not None
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline() == "stopped\n"
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 3
    finally:
        proc.kill()
