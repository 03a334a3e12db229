"""The inline broker: in-process streams with consumer groups (``provider = "inline"``).

With ``message_processing = "sync"`` the domain registers a callback and
every published payload is handed to the stream's subscribers at once.
Otherwise payloads wait in the stream and consumer groups read them with the
same semantics as Redis Streams (see :mod:`archipel.port.broker`): per-group
cursors, pending entries owned by a consumer until acknowledged, takeover of
stale pending entries, trimming that never drops unacknowledged entries.

Everything lives in this process: the inline broker serves tests, sync
processing and a one-process ``archipel server`` on the memory database.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from archipel.adapters.memory._copy import clone
from archipel.adapters.payload import check_payload
from archipel.adapters.settings import SWITCHABLE_SETTINGS, check_settings
from archipel.port.broker import Entry, PublishCallback

__all__ = ["InlineBroker"]


class _Pending:
    __slots__ = ("consumer", "delivered_at", "deliveries")

    def __init__(self, consumer: str, delivered_at: float) -> None:
        self.consumer = consumer
        self.delivered_at = delivered_at
        self.deliveries = 1


class _Group:
    __slots__ = ("last_delivered", "pending")

    def __init__(self) -> None:
        self.last_delivered = 0  # sequence number of the last entry read by the group
        self.pending: dict[int, _Pending] = {}


class _Stream:
    __slots__ = ("seqs", "payloads", "groups", "last_seq")

    def __init__(self) -> None:
        # parallel lists, ordered by sequence number; trimming drops a prefix
        self.seqs: list[int] = []
        self.payloads: list[dict[str, Any]] = []
        self.groups: dict[str, _Group] = {}
        self.last_seq = 0

    def group(self, name: str) -> _Group:
        found = self.groups.get(name)
        if found is None:
            found = self.groups[name] = _Group()
        return found


def _seq(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


class InlineBroker:
    """Process-local streams; thread-safe; ids are ``"<n>-0"`` with ``n`` increasing per stream."""

    #: with ``message_processing = "sync"`` the domain's callback delivers raw payloads
    delivers_inline = True
    #: its streams live in this process: another process (the CLI) cannot reach its consumers
    shared_between_processes = False

    def __init__(self, name: str = "default", config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.config = config or {}
        check_settings(f"brokers.{name}", "inline", self.config, SWITCHABLE_SETTINGS)
        self._lock = threading.Condition(threading.Lock())
        self._streams: dict[str, _Stream] = {}
        self._callback: PublishCallback | None = None

    # -- publishing ---------------------------------------------------------
    def on_publish(self, callback: PublishCallback | None) -> None:
        """Deliver every published payload to ``callback`` (sync processing)."""
        self._callback = callback

    def publish(self, stream: str, payload: dict[str, Any]) -> str:
        check_payload(payload)
        return self.publish_many([(stream, payload)])[0]

    def publish_many(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        copies = []
        for stream, payload in entries:
            if not isinstance(payload, dict):
                raise TypeError(f"broker payloads are dicts, got {type(payload).__name__}")
            copies.append((stream, clone(payload)))
        ids = []
        with self._lock:
            for stream, copy in copies:
                found = self._streams.get(stream)
                if found is None:
                    found = self._streams[stream] = _Stream()
                found.last_seq += 1
                found.seqs.append(found.last_seq)
                found.payloads.append(copy)
                ids.append(f"{found.last_seq}-0")
            self._lock.notify_all()
        callback = self._callback
        if callback is not None:
            for stream, payload in entries:
                callback(stream, clone(payload))
        return ids

    # -- consuming ----------------------------------------------------------
    def has_group(self, stream: str, group: str) -> bool:
        """Whether ``group`` exists on ``stream`` (a new subscription catches up when not)."""
        with self._lock:
            found = self._streams.get(stream)
            return found is not None and group in found.groups

    def trimmed(self, stream: str) -> bool:
        """Whether entries were ever trimmed from ``stream`` (a new group would miss them)."""
        with self._lock:
            found = self._streams.get(stream)
            return found is not None and found.last_seq > len(found.seqs)

    def ensure_group(self, stream: str, group: str) -> None:
        with self._lock:
            found = self._streams.get(stream)
            if found is None:
                found = self._streams[stream] = _Stream()
            found.group(group)

    def read(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        count: int = 100,
        block_ms: int = 0,
    ) -> list[Entry]:
        deadline = time.monotonic() + block_ms / 1000.0
        with self._lock:
            while True:
                batch = self._take(group, consumer, streams, count)
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0:
                    return batch
                self._lock.wait(remaining)

    def _take(self, group: str, consumer: str, streams: Sequence[str], count: int) -> list[Entry]:
        now = time.monotonic()
        out: list[Entry] = []
        for name in streams:
            stream = self._streams.get(name)
            if stream is None:
                stream = self._streams[name] = _Stream()
            state = stream.group(group)
            start = bisect.bisect_right(stream.seqs, state.last_delivered)
            stop = min(start + count, len(stream.seqs))
            for index in range(start, stop):
                seq = stream.seqs[index]
                state.pending[seq] = _Pending(consumer, now)
                out.append(Entry(name, f"{seq}-0", clone(stream.payloads[index])))
            if stop > start:
                state.last_delivered = stream.seqs[stop - 1]
        return out

    def ack(self, group: str, ids_by_stream: Mapping[str, Sequence[str]]) -> int:
        done = 0
        with self._lock:
            for name, ids in ids_by_stream.items():
                stream = self._streams.get(name)
                state = stream.groups.get(group) if stream is not None else None
                if state is None:
                    continue
                for entry_id in ids:
                    if state.pending.pop(_seq(entry_id), None) is not None:
                        done += 1
        return done

    def claim_stale(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 1000
    ) -> list[Entry]:
        now = time.monotonic()
        cutoff = now - min_idle_ms / 1000.0
        with self._lock:
            found = self._streams.get(stream)
            state = found.groups.get(group) if found is not None else None
            if found is None or state is None:
                return []
            out: list[Entry] = []
            for seq in sorted(state.pending):
                if len(out) >= count:
                    break
                pending = state.pending[seq]
                if pending.delivered_at > cutoff:
                    continue
                index = bisect.bisect_left(found.seqs, seq)
                if index >= len(found.seqs) or found.seqs[index] != seq:
                    del state.pending[seq]  # entry gone: nothing left to deliver
                    continue
                pending.consumer = consumer
                pending.delivered_at = now
                pending.deliveries += 1
                out.append(Entry(stream, f"{seq}-0", clone(found.payloads[index])))
            return out

    def own_pending(
        self, group: str, consumer: str, streams: Sequence[str], count: int = 1000
    ) -> list[Entry]:
        out: list[Entry] = []
        with self._lock:
            for name in dict.fromkeys(streams):
                found = self._streams.get(name)
                state = found.groups.get(group) if found is not None else None
                if found is None or state is None:
                    continue
                mine = sorted(seq for seq, p in state.pending.items() if p.consumer == consumer)
                for seq in mine[:count]:
                    index = bisect.bisect_left(found.seqs, seq)
                    if index < len(found.seqs) and found.seqs[index] == seq:
                        out.append(Entry(name, f"{seq}-0", clone(found.payloads[index])))
        return out

    # -- inspecting and housekeeping ---------------------------------------
    def delivery_counts(self, stream: str, group: str, ids: Sequence[str]) -> dict[str, int]:
        with self._lock:
            found = self._streams.get(stream)
            state = found.groups.get(group) if found is not None else None
            if state is None:
                return {}
            out: dict[str, int] = {}
            for entry_id in ids:
                pending = state.pending.get(_seq(entry_id))
                if pending is not None:
                    out[entry_id] = pending.deliveries
            return out

    def pending(self, stream: str, group: str) -> int:
        with self._lock:
            found = self._streams.get(stream)
            state = found.groups.get(group) if found is not None else None
            return len(state.pending) if state is not None else 0

    def pending_count(self, stream: str, group: str) -> int:
        """Former name of :meth:`pending`."""
        return self.pending(stream, group)

    def lag(self, stream: str, group: str) -> int | None:
        with self._lock:
            found = self._streams.get(stream)
            if found is None:
                return 0
            state = found.groups.get(group)
            last = state.last_delivered if state is not None else 0
            return len(found.seqs) - bisect.bisect_right(found.seqs, last)

    def trim(self, stream: str, retain: int = 0) -> int:
        with self._lock:
            found = self._streams.get(stream)
            if found is None or not found.groups:
                return 0
            # the first sequence some group still needs: its oldest pending
            # entry, else the first entry after what it has read
            safe = min(
                min(state.pending) if state.pending else state.last_delivered + 1
                for state in found.groups.values()
            )
            cut = bisect.bisect_left(found.seqs, safe)
            if retain > 0:
                cut = min(cut, max(0, len(found.seqs) - retain))
            if cut:
                del found.seqs[:cut]
                del found.payloads[:cut]
            return cut

    def length(self, stream: str) -> int:
        """Entries currently stored in ``stream``."""
        with self._lock:
            found = self._streams.get(stream)
            return len(found.seqs) if found is not None else 0

    def streams(self) -> list[str]:
        with self._lock:
            return sorted(self._streams)

    def truncate(self) -> None:
        with self._lock:
            self._streams.clear()

    def close(self) -> None:
        """Nothing to release."""
