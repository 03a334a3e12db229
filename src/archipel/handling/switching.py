"""A short thread switch interval while a projection rebuild runs its threads.

A rebuild on the SQL stores runs its projectors on the calling thread while
other threads read the next batch and write the previous one
(:mod:`archipel.handling.read_ahead`, :mod:`archipel.handling.write_behind`).
Each database round trip of those threads releases the GIL; to take it back
while the projectors keep the interpreter busy, a thread waits for CPython's
*switch interval* (``sys.getswitchinterval()``, 5 ms by default). Four round
trips of a batch's write then took about 20 ms, longer than the projectors
needed for the next batch, and the rebuild waited for its writer
(bench/README.md, session 8). :func:`quick_switching` shortens the interval
to :data:`REBUILD_SWITCH_INTERVAL` for the rebuild and puts the previous
value back afterwards.

The interval is the interpreter's, so other threads of the process switch
sooner meanwhile too: scheduling only, no behaviour changes. Rebuilds
running at the same time share one change (the last to finish restores the
interval), and a value set by someone else meanwhile is left alone.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["REBUILD_SWITCH_INTERVAL", "quick_switching"]

#: the switch interval (seconds) while a rebuild runs threads: a tenth of CPython's default
REBUILD_SWITCH_INTERVAL = 0.0005

_lock = threading.Lock()
#: rebuilds inside :func:`quick_switching`
_users = 0
#: (the interval before the first of them, the one set) while any is
_saved: tuple[float, float] | None = None


@contextmanager
def quick_switching(interval: float = REBUILD_SWITCH_INTERVAL) -> Iterator[None]:
    """Run the block with the thread switch interval at most ``interval`` seconds.

    Never lengthens it; restores the previous value when the last block
    sharing the change ends, unless something else changed it meanwhile.
    """
    global _users, _saved
    with _lock:
        if _users == 0:
            before = sys.getswitchinterval()
            wanted = min(before, interval)
            sys.setswitchinterval(wanted)
            # what the interpreter reports back (it may round the value)
            _saved = (before, sys.getswitchinterval())
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                before, applied = _saved
                _saved = None
                if sys.getswitchinterval() == applied:
                    sys.setswitchinterval(before)
