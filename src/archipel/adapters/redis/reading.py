"""Consuming a Redis broker's streams with consumer groups.

``XREADGROUP`` (one per slot on a cluster; when all are empty, an ``XREAD``
blocking on every slot at once waits for news), ``XACK``, ``XAUTOCLAIM`` to take over a dead
consumer's pending entries, ``XPENDING`` + ``XRANGE`` to find the entries
delivered to this consumer whose read reply was lost, and the delivery
counts of pending entries.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from archipel.adapters.redis.cluster import by_slot
from archipel.adapters.redis.connection import (
    _MAX_BLOCK_MS,
    RedisConnection,
    _id_key,
    _next_id,
    _text,
)
from archipel.port.broker import Entry

__all__ = ["RedisGroupReader"]


class RedisGroupReader(RedisConnection):
    """The consumer-group side of :class:`~archipel.adapters.redis.broker.RedisBroker`."""

    def has_group(self, stream: str, group: str) -> bool:
        """Whether ``group`` exists on ``stream`` (a new subscription catches up when not)."""
        return any(_text(info["name"]) == group for info in self._group_info(stream))

    def ensure_group(self, stream: str, group: str) -> None:
        if (stream, group) in self._groups:
            return

        def run() -> None:
            try:
                self._client.xgroup_create(self._key(stream), group, id="0", mkstream=True)
            except redis.exceptions.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        self._call(f"XGROUP CREATE {stream} {group}", run)
        self._groups.add((stream, group))

    def read(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        count: int = 100,
        block_ms: int = 0,
    ) -> list[Entry]:
        if not streams:
            return []
        for stream in streams:
            self.ensure_group(stream, group)
        block = min(block_ms, _MAX_BLOCK_MS) if block_ms > 0 else None
        if self._fan_out is not None:
            return self._read_cluster(group, consumer, streams, count, block)
        reply = self._call(
            f"XREADGROUP {group}", lambda: self._read_streams(group, consumer, streams, count, block)
        )
        return self._entries(reply)

    def _read_streams(
        self, group: str, consumer: str, streams: Sequence[str], count: int, block: int | None
    ) -> Any:
        """One ``XREADGROUP`` of ``streams`` (on a cluster: all in one slot)."""
        wanted: dict[Any, Any] = {self._key(stream): ">" for stream in streams}
        try:
            return self._reader.xreadgroup(group, consumer, wanted, count=count, block=block)
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # the stream vanished (FLUSHALL, a restart without persistence):
            # recreate the groups and read again
            for stream in streams:
                self._groups.discard((stream, group))
            for stream in streams:
                self.ensure_group(stream, group)
            return self._reader.xreadgroup(group, consumer, wanted, count=count, block=block)

    def _read_cluster(
        self, group: str, consumer: str, streams: Sequence[str], count: int, block: int | None
    ) -> list[Entry]:
        """One ``XREADGROUP`` per slot; if all are empty, block on every slot at once."""
        assert self._fan_out is not None
        named = {self._key(stream): stream for stream in streams}
        slots = by_slot(list(named))
        wait = block if len(slots) == 1 else None
        out = self._read_slots(group, consumer, named, slots, count, wait)
        self._note_seen(group, out)
        if out or block is None or len(slots) == 1:
            return out
        fan_out = self._fan_out
        seen = self._seen

        def wait_one(client: redis.Redis, keys: list[str]) -> Any:
            # XREAD delivers nothing and no pause of writes postpones it (see cluster.py).
            # From the last entry this reader was given, not "$": an entry added between
            # the empty XREADGROUP above and this wait wakes it at once.
            after: dict[Any, Any] = {key: seen.get((group, key), "$") for key in keys}
            return client.xread(after, count=1, block=block)

        def run() -> list[Any]:
            work = [(self._reader.get_node_from_key(keys[0]), keys) for keys in slots]
            replies: list[Any] = fan_out.read(work, wait_one)
            return replies

        if not self._call(f"XREAD (waiting on {len(slots)} slots for {group})", run):
            return out  # nothing new before the timeout
        out = self._read_slots(group, consumer, named, slots, count, None)
        if out:
            self._note_seen(group, out)
        else:  # woken by entries another consumer of the group was given: wait from "$" next
            for key in named:
                seen.pop((group, key), None)
        return out

    def _note_seen(self, group: str, entries: Sequence[Entry]) -> None:
        """Remember the newest entry ``group`` was given per stream (the cluster wait starts there)."""
        for entry in entries:  # a stream's entries come in id order: the last one wins
            self._seen[(group, self._key(entry.stream))] = entry.id

    def _read_slots(
        self, group: str, consumer: str, named: dict[str, str], slots: list[list[str]], count: int,
        block: int | None,
    ) -> list[Entry]:
        """One ``XREADGROUP`` per slot, one after the other (``block``: only with one slot)."""
        out: list[Entry] = []
        for keys in slots:
            part = [named[key] for key in keys]
            read = functools.partial(self._read_streams, group, consumer, part, count, block)
            out += self._entries(self._call(f"XREADGROUP {group}", read))
        return out

    def ack(self, group: str, ids_by_stream: Mapping[str, Sequence[str]]) -> int:
        # ids as bytes: redis-py passes bytes on as they are (a str is checked against five
        # types, then encoded, in Python, per id: one call per entry acknowledged)
        work = [(stream, [i.encode() if i.__class__ is str else i for i in ids])
                for stream, ids in ids_by_stream.items() if ids]
        if not work:
            return 0

        def run() -> int:
            if len(work) == 1:
                stream, ids = work[0]
                return int(self._client.xack(self._key(stream), group, *ids))
            pipe = self._client.pipeline(transaction=False)
            for stream, ids in work:
                pipe.xack(self._key(stream), group, *ids)
            return sum(int(n) for n in pipe.execute())

        return self._call(f"XACK {group}", run)

    def claim_stale(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 1000
    ) -> list[Entry]:
        self.ensure_group(stream, group)

        def run() -> list[Entry]:
            out: list[Entry] = []
            start = "0-0"
            while len(out) < count:
                reply = self._client.xautoclaim(
                    self._key(stream), group, consumer, min_idle_ms, start_id=start, count=min(count - len(out), 500)
                )
                next_id, messages = reply[0], reply[1]
                for entry_id, fields in messages:
                    if fields is not None:
                        out.append(Entry(stream, _text(entry_id), self._payload(fields)))
                start = _text(next_id)
                if start == "0-0":
                    break
            out.sort(key=lambda e: _id_key(e.id))
            return out

        return self._call(f"XAUTOCLAIM {stream} {group}", run)

    def own_pending(
        self, group: str, consumer: str, streams: Sequence[str], count: int = 1000
    ) -> list[Entry]:
        # XPENDING then XRANGE: XREADGROUP with id 0 would count one more delivery
        def run() -> list[Entry]:
            out: list[Entry] = []
            for stream in dict.fromkeys(streams):
                try:
                    rows = self._client.xpending_range(
                        self._key(stream), group, min="-", max="+", count=count, consumername=consumer
                    )
                except redis.exceptions.ResponseError as exc:
                    if "NOGROUP" in str(exc):
                        continue  # no group: nothing pending in it
                    raise
                if not rows:
                    continue
                pipe = self._client.pipeline(transaction=False)
                for row in rows:
                    pipe.xrange(self._key(stream), min=row["message_id"], max=row["message_id"])
                for found in pipe.execute():
                    for entry_id, fields in found:
                        out.append(Entry(stream, _text(entry_id), self._payload(fields)))
            return out

        return self._call(f"XPENDING {group} {consumer}", run)

    def delivery_counts(self, stream: str, group: str, ids: Sequence[str]) -> dict[str, int]:
        """``times_delivered`` of the pending entries (extended ``XPENDING``, paged)."""
        if not ids:
            return {}
        wanted = set(ids)
        high = max(ids, key=_id_key)

        def run() -> dict[str, int]:
            out: dict[str, int] = {}
            low = min(ids, key=_id_key)
            while True:
                try:
                    rows = self._client.xpending_range(self._key(stream), group, min=low, max=high, count=500)
                except redis.exceptions.ResponseError as exc:
                    if "NOGROUP" in str(exc):
                        return out  # no such group: nothing pending in it
                    raise
                for row in rows:
                    entry_id = _text(row["message_id"])
                    if entry_id in wanted:
                        out[entry_id] = int(row["times_delivered"])
                if len(rows) < 500:
                    return out
                low = _next_id(_text(rows[-1]["message_id"]))

        return self._call(f"XPENDING {stream} {group}", run)
