"""Waiting in tests for something another thread or process does."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

__all__ = ["wait_until"]


def wait_until(predicate: Callable[[], object], what: str, seconds: float = 60.0, every: float = 0.02) -> None:
    """Return once ``predicate()`` is true; fail the test naming ``what`` after ``seconds``
    (a guard against a hang, never a timing goal)."""
    give_up = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > give_up:
            pytest.fail(f"{what} did not happen in {seconds:.0f} s")
        time.sleep(every)
