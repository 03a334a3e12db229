"""Inspecting and trimming a Redis broker's streams.

Trimming (``XTRIM MINID``) cuts only below the oldest entry some group
still needs (its oldest pending entry, else the first entry after its
last-delivered id), so nothing unacknowledged is ever dropped.
"""

from __future__ import annotations

from typing import Any

import redis

from archipel.adapters.redis.connection import RedisConnection, _id_key, _next_id, _text

__all__ = ["RedisHousekeeping"]


class RedisHousekeeping(RedisConnection):
    """Status and housekeeping of :class:`~archipel.adapters.redis.broker.RedisBroker`'s streams."""

    def trimmed(self, stream: str) -> bool:
        """Whether entries were ever trimmed from ``stream`` (True when Redis cannot say)."""

        def run() -> bool:
            try:
                info = self._client.xinfo_stream(stream)
            except redis.exceptions.ResponseError as exc:
                if "no such key" in str(exc).lower():
                    return False
                raise
            added = info.get("entries-added")
            return True if added is None else int(added) > int(info.get("length") or 0)

        return self._call(f"XINFO STREAM {stream}", run)

    def pending(self, stream: str, group: str) -> int:
        for info in self._group_info(stream):
            if _text(info["name"]) == group:
                return int(info["pending"])
        return 0

    def lag(self, stream: str, group: str) -> int | None:
        for info in self._group_info(stream):
            if _text(info["name"]) == group:
                lag = info.get("lag")
                return None if lag is None else int(lag)
        return self.length(stream)

    def trim(self, stream: str, retain: int = 0) -> int:
        groups = self._group_info(stream)
        if not groups:
            return 0
        bounds: list[str] = []
        for info in groups:
            if int(info["pending"]):
                name = info["name"]
                summary: Any = self._call(
                    f"XPENDING {stream}", lambda: self._client.xpending(self._key(stream), name)  # noqa: B023
                )
                bounds.append(_text(summary["min"]))
            else:
                bounds.append(_next_id(_text(info["last-delivered-id"])))
        if retain > 0:
            newest: Any = self._call(
                f"XREVRANGE {stream}", lambda: self._client.xrevrange(self._key(stream), count=retain)
            )
            if len(newest) == retain:
                bounds.append(_text(newest[-1][0]))
            else:
                return 0
        safe = min(bounds, key=_id_key)
        return self._call(
            f"XTRIM {stream}", lambda: int(self._client.xtrim(self._key(stream), minid=safe, approximate=False))
        )

    def length(self, stream: str) -> int:
        """Entries currently stored in ``stream``."""
        return self._call(f"XLEN {stream}", lambda: int(self._client.xlen(self._key(stream))))

    def streams(self) -> list[str]:
        def run() -> list[str]:
            return sorted(self._stream(k) for k in self._client.scan_iter(count=1000, _type="stream"))

        return self._call("SCAN", run)

    def truncate(self) -> None:
        names = self.streams()
        if names:
            self._call("DEL", lambda: self._client.delete(*(self._key(n) for n in names)))
        self._groups.clear()
