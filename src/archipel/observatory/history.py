"""An hour of history per domain, kept server-side in a ring buffer.

Every ``interval`` seconds :meth:`History.sample` records one point per
domain: ``{"t": epoch seconds, "throughput": messages stored per second,
"latency_p50"/"latency_p99": reaction time in seconds, "lag": messages waiting
for subscriptions (lag + pending), "dlq": dead letters, "outbox": rows not
relayed}``. The buffer keeps ``seconds / interval`` points; older ones drop off.

*Reaction time* is what the event store shows of handling latency: for each
new message caused by another one (its ``causation_id``), the time between
the cause and it being written — a command to its events, an event to the
command a process manager sends. It is ``None`` when no new message had a
known cause in the interval.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from archipel.observatory.collect import DomainWatch

__all__ = ["History", "percentile"]

_KNOWN_CAUSES = 20_000  # message times remembered to find a new message's cause
_PER_SAMPLE = 5_000  # messages read per domain per sample at most


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` (inclusive method); None when empty."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[min(98, max(0, round(q * 100) - 1))]


def _epoch(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


class _DomainSeries:
    def __init__(self, size: int) -> None:
        self.points: deque[dict[str, Any]] = deque(maxlen=size)
        self.cursor: int | None = None
        self.at = time.monotonic()
        self.times: OrderedDict[str, float] = OrderedDict()

    def reaction_times(self, events: list[dict[str, Any]]) -> list[float]:
        found = []
        for event in events:
            when = _epoch(event.get("time"))
            cause = event.get("causation_id")
            if when is not None and cause and cause in self.times:
                found.append(max(0.0, when - self.times[cause]))
            if when is not None and event.get("id"):
                self.times[str(event["id"])] = when
        while len(self.times) > _KNOWN_CAUSES:
            self.times.popitem(last=False)
        return found


class History:
    """Ring buffers of samples, one per watched domain (thread-safe)."""

    def __init__(self, watches: list[DomainWatch], interval: float = 10.0, seconds: float = 3600.0) -> None:
        self.watches = watches
        self.interval = interval
        self.seconds = seconds
        size = max(2, int(seconds // interval))
        self._series = {w.name: _DomainSeries(size) for w in watches}
        self._lock = threading.Lock()
        self._next_wait = interval

    def sample(self) -> None:
        """Record one point per domain (reads the stores; call from a thread)."""
        for watch in self.watches:
            series = self._series[watch.name]
            summary = watch.summary()
            now = time.monotonic()
            if series.cursor is None:
                events: list[dict[str, Any]] = []
                series.cursor = watch.last_position
            else:
                events = watch.events_after(series.cursor, _PER_SAMPLE)
                if events:
                    series.cursor = int(events[-1]["position"] or series.cursor)
            reactions = series.reaction_times(events)
            elapsed = max(1e-6, now - series.at)
            series.at = now
            rows = summary.get("subscriptions") or []
            point = {
                "t": round(time.time(), 3),
                "throughput": round(len(events) / elapsed, 3),
                "latency_p50": percentile(reactions, 0.50),
                "latency_p99": percentile(reactions, 0.99),
                "lag": sum(int(r.get("lag") or 0) + int(r.get("pending") or 0) for r in rows),
                "dlq": summary.get("dlq_depth"),
                "outbox": summary.get("outbox_pending"),
            }
            with self._lock:
                series.points.append(point)

    def points(self, name: str) -> list[dict[str, Any]]:
        """The samples of one domain, oldest first."""
        with self._lock:
            return list(self._series[name].points)

    def run(self, stop: threading.Event) -> None:
        """Sample every ``interval`` seconds until ``stop`` is set (the app's sampler thread)."""
        while not stop.wait(self._next_wait):
            started = time.monotonic()
            try:
                self.sample()
            except Exception:  # a store that is down now may be back next time
                import logging

                logging.getLogger("archipel.observatory").exception("history sample failed")
            self._next_wait = max(0.0, self.interval - (time.monotonic() - started))
