"""In-process retries of a handler on the synchronous path (Protean's transient retry).

A handler declared with ``retries=N`` (command handlers, event handlers,
projectors) that fails with a *transient* error (:mod:`archipel.utils.transient`,
plus its ``retry_exceptions``) is run again, up to N more times, each attempt
in a fresh unit of work, after its ``backoff`` delay (from 0.1 s, at most
5 s). Any other error, or the last transient one, reaches the caller. Without
``retries`` a handler runs once, as before. (In the server, the engine's
retries apply instead: :mod:`archipel.engine.failures`.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from archipel.core.handler_options import retry_policy
from archipel.utils.transient import is_transient

__all__ = ["run_with_retries", "BASE_DELAY", "MAX_DELAY"]

T = TypeVar("T")

#: first pause and longest pause between in-process attempts, in seconds
BASE_DELAY = 0.1
MAX_DELAY = 5.0


def run_with_retries(options: Mapping[str, Any], attempt: Callable[[], T]) -> T:
    """Run ``attempt`` (which opens its own unit of work); retry transient failures per ``options``."""
    retries = options.get("retries")
    if not retries:
        return attempt()
    policy = retry_policy(options)
    retry_on = policy.exceptions or ()
    done = 0
    while True:
        try:
            return attempt()
        except Exception as exc:
            if done >= retries or not is_transient(exc, retry_on):
                raise
            done += 1
            time.sleep(policy.delay(done, BASE_DELAY, MAX_DELAY))
