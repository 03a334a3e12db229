"""Exponential backoff with jitter, for handler retries and for reconnecting."""

from __future__ import annotations

import random

__all__ = ["backoff_delay", "Backoff"]


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Delay before retry number ``attempt`` (1, 2, ...): ``base * 2**(attempt-1)``, capped, jittered.

    The jitter ("equal jitter") keeps at least half of the exponential delay
    and randomises the rest, so workers retrying together spread out.
    """
    if base <= 0:
        return 0.0
    exponential = min(cap, base * (2 ** max(0, attempt - 1)))
    half = exponential / 2
    return float(half + random.uniform(0, half))  # noqa: S311 - not cryptographic


class Backoff:
    """Growing pauses while a dependency (broker, database) is down; ``reset`` when it is back."""

    __slots__ = ("base", "cap", "attempt")

    def __init__(self, base: float = 0.1, cap: float = 5.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        self.attempt += 1
        return backoff_delay(self.attempt, self.base, self.cap)

    def reset(self) -> None:
        self.attempt = 0
