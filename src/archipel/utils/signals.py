"""Stop signals handled without taking a lock inside the signal handler.

Python runs a signal handler on the main thread between two bytecodes,
wherever that thread is, including inside ``threading.Event.wait`` while it
holds the event's lock. A handler that calls ``event.set()`` then waits for a
lock its own thread holds: the process hangs on SIGTERM (seen about once in
twenty-five stops of ``archipel server``). :func:`relay_signals` keeps the
handler to a write on a pipe; a thread of its own reads the pipe and runs the
callback, outside the handler, where taking a lock is safe.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable

__all__ = ["relay_signals"]


def relay_signals(
    signals: Iterable[signal.Signals],
    callback: Callable[[signal.Signals], None],
    exit_on_second: int | None = None,
) -> Callable[[], None]:
    """Run ``callback(signal)`` on a relay thread for each of ``signals`` received; return an undo.

    Main thread only (where Python delivers signals); elsewhere nothing is
    installed and the undo does nothing. The handler itself only writes the
    signal's number to a pipe (no lock). With ``exit_on_second``, a second
    signal ends the process at once (``os._exit``) with that status, from
    the handler. A signal received by a process forked after the install
    (before it installs handlers of its own) is ignored, not relayed to this
    process's callback. The undo restores the previous handlers and ends the
    thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    read_fd, write_fd = os.pipe()
    owner = os.getpid()
    count = [0]

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            return
        count[0] += 1
        if exit_on_second is not None and count[0] > 1:
            os._exit(exit_on_second)
        os.write(write_fd, bytes([signum]))

    def relay() -> None:
        while True:
            try:
                received = os.read(read_fd, 1)
            except OSError:
                return
            if not received:
                return  # the undo closed the pipe
            callback(signal.Signals(received[0]))

    thread = threading.Thread(target=relay, name="archipel-signal-relay", daemon=True)
    thread.start()
    previous = {sig: signal.signal(sig, handler) for sig in signals}

    def undo() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
        os.close(write_fd)
        if thread is not threading.current_thread():
            thread.join(timeout=5.0)
        os.close(read_fd)

    return undo
