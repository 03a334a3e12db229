"""``archipel server --reload``: restart the server whenever a source file changes (development).

An outer process runs the server as a child (``python -m archipel`` with the
same arguments, less ``--reload``) and watches the working directory with
``watchfiles`` (Python files and ``.toml`` configuration; virtual
environments, caches, ``.git`` and ``.archipel/`` are ignored). On a change
it stops the child — SIGTERM, then SIGKILL after :data:`STOP_GRACE_SECONDS`
— and starts a new one, which imports the changed code. A child that exits
on its own (a syntax error, say) is started again at the next change.
SIGINT or SIGTERM to the outer process stops the child and exits with its
status. With ``--test-mode`` the outer process exits when the child does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from archipel.cli._console import err

__all__ = ["STOP_GRACE_SECONDS", "run_with_reload"]

#: how long a stopped child may take to finish its in-flight work before it is killed
STOP_GRACE_SECONDS = 10.0
_IGNORED = (".archipel",)


def _child_args(argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "archipel", *(a for a in argv if a != "--reload")]


def _stop(child: subprocess.Popen[bytes] | None) -> int | None:
    if child is None:
        return None
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            err().print(f"[yellow]archipel server --reload: the server did not stop within "
                        f"{STOP_GRACE_SECONDS:g} s; killing it[/]")
            child.kill()
            child.wait()
    return child.returncode


def run_with_reload(argv: Sequence[str], watch: Sequence[Path], *, test_mode: bool = False) -> int:
    """Run ``archipel <argv>`` (less ``--reload``) in a child, restarting it on source changes.

    Returns the exit status of the last child (0 when it was stopped by the reloader).
    """
    try:
        from watchfiles import PythonFilter
        from watchfiles import watch as watch_changes
    except ModuleNotFoundError as exc:
        if exc.name != "watchfiles":
            raise
        err().print("[red]--reload needs the watchfiles package:[/] pip install 'archipel[reload]'")
        return 2
    stop = threading.Event()
    status: dict[str, Any] = {"code": 0}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    dirs = [p.resolve() for p in watch]
    command = _child_args(argv)
    child: subprocess.Popen[bytes] | None = None
    current: list[subprocess.Popen[bytes]] = []

    def ended(started: subprocess.Popen[bytes]) -> None:
        code = started.wait()
        if current and current[-1] is started:  # not a child the reloader stopped itself
            status["code"] = code
            stop.set()

    def start() -> subprocess.Popen[bytes]:
        started = subprocess.Popen(command)
        current.append(started)
        if test_mode:  # the outer process ends with the child
            threading.Thread(target=ended, args=(started,), daemon=True).start()
        return started

    try:
        err().print(f"[dim]archipel server --reload: watching {', '.join(map(str, dirs))}[/]")
        child = start()
        changes_filter = PythonFilter(
            ignore_paths=[d / name for d in dirs for name in _IGNORED], extra_extensions=(".toml",)
        )
        for changes in watch_changes(*dirs, watch_filter=changes_filter, stop_event=stop,
                                     raise_interrupt=False):
            names = sorted({Path(path).name for _change, path in changes})
            err().print(f"[cyan]archipel server --reload: {', '.join(names)} changed; restarting[/]")
            current.clear()
            _stop(child)
            child = start()
    finally:
        code = _stop(child)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if test_mode:
        return int(status["code"])
    return 0 if code in (None, 0, -signal.SIGTERM) else int(code)
