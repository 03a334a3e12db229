"""Redis Pub/Sub broker (``provider = "redis_pubsub"``): fire-and-forget, **at most once**.

Each stream is a Redis channel; ``publish`` is ``PUBLISH``. A consumer group
is a subscription of this broker to the channels it reads, opened by
``ensure_group`` or the first ``read``: it receives what is published *after*
it subscribed, nothing earlier, and nothing published while no one listens.
Redis keeps nothing, so there is no pending list, no redelivery, no
take-over and no trimming: an entry is done once read (``ack`` does nothing),
and one lost with a crashed consumer is gone. Two processes reading with the
same group name each receive every entry (Pub/Sub fans out), so do not run
more than one worker on it.

Use it where losing messages is acceptable (notifications, cache
invalidation); use ``provider = "redis"`` (Streams: at-least-once, consumer
groups, DLQ) for domain events. Entry ids are ``<ms>-<n>`` from the
publishing broker, increasing within each stream.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import redis

from archipel.adapters.payload import check_payload
from archipel.adapters.redis.connection import _redact, _text
from archipel.adapters.settings import check_settings
from archipel.errors import BrokerError, BrokerUnavailable, ConfigurationError
from archipel.port.broker import Entry, PublishCallback

__all__ = ["RedisPubSubBroker"]

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class RedisPubSubBroker:
    """A broker on Redis Pub/Sub channels (see the module docstring); thread-safe."""

    delivers_inline = False
    #: entries published before a group subscribed, or while its reader was down, are lost
    at_most_once = True

    def __init__(self, name: str = "default", config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.config = config or {}
        check_settings(
            f"brokers.{name}", "redis_pubsub", self.config, {"URI", "url", "uri", "connect_timeout"}
        )
        url = self.config.get("URI") or self.config.get("url") or self.config.get("uri")
        if not url:
            raise ConfigurationError(
                f"[brokers.{name}] provider = \"redis_pubsub\" needs a server address: "
                'add URI = "redis://localhost:6379/0"'
            )
        self._where = _redact(str(url))
        try:
            self._client = redis.Redis.from_url(
                str(url), socket_connect_timeout=float(self.config.get("connect_timeout", 2.0))
            )
        except ValueError as exc:
            raise ConfigurationError(f"[brokers.{name}] invalid Redis URL {self._where}: {exc}") from exc
        self._subscriptions: dict[str, Any] = {}  # group -> redis PubSub
        self._channels: dict[str, set[str]] = {}  # group -> channels subscribed
        #: entries received for a group's channels that its last read did not ask for
        self._held: dict[str, list[Entry]] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._callback: PublishCallback | None = None

    def __repr__(self) -> str:
        return f"<RedisPubSubBroker {self.name!r} {self._where}>"

    def _call(self, what: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise BrokerUnavailable(f"Redis at {self._where} is unreachable ({what}: {exc})") from exc
        except redis.exceptions.RedisError as exc:
            raise BrokerError(f"Redis at {self._where} refused {what}: {exc}") from exc

    # -- publishing ------------------------------------------------------------
    def on_publish(self, callback: PublishCallback | None) -> None:
        """Call ``callback`` with every payload published through this broker (sync processing)."""
        self._callback = callback

    def publish(self, stream: str, payload: dict[str, Any]) -> str:
        check_payload(payload)
        return self.publish_many([(stream, payload)])[0]

    def publish_many(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        if not entries:
            return []
        ids = [f"{int(time.time() * 1000)}-{next(self._seq)}" for _ in entries]

        def run() -> None:
            pipe = self._client.pipeline(transaction=False)
            for (stream, payload), entry_id in zip(entries, ids, strict=True):
                if not isinstance(payload, dict):
                    raise BrokerError(f"payloads are dicts, got {type(payload).__name__}")
                pipe.publish(stream, _encode({"id": entry_id, "d": payload}))
            pipe.execute()

        self._call("PUBLISH", run)
        callback = self._callback
        if callback is not None:
            for stream, payload in entries:
                callback(stream, payload)
        return ids

    # -- consuming ---------------------------------------------------------------
    def ensure_group(self, stream: str, group: str) -> None:
        """Subscribe ``group`` to ``stream`` from now on (earlier entries are not kept)."""
        with self._lock:
            channels = self._channels.setdefault(group, set())
            if stream in channels:
                return
            pubsub = self._subscriptions.get(group)
            if pubsub is None:
                pubsub = self._subscriptions[group] = self._client.pubsub(ignore_subscribe_messages=True)
            self._call("SUBSCRIBE", lambda: pubsub.subscribe(stream))
            channels.add(stream)

    def read(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        count: int = 100,
        block_ms: int = 0,
    ) -> list[Entry]:
        for stream in streams:
            self.ensure_group(stream, group)
        pubsub = self._subscriptions[group]
        wanted = set(streams)
        found: list[Entry] = []
        taken: dict[str, int] = {}
        with self._lock:
            held = self._held.pop(group, [])
        for entry in held:
            if entry.stream in wanted and taken.get(entry.stream, 0) < count:
                found.append(entry)
                taken[entry.stream] = taken.get(entry.stream, 0) + 1
            else:
                self._hold(group, entry)
        deadline = time.monotonic() + block_ms / 1000.0
        while True:
            remaining = deadline - time.monotonic()
            wait = max(0.0, remaining) if not found else 0.0
            message = self._call("read", functools.partial(pubsub.get_message, timeout=wait))
            if message is None:
                if found or remaining <= 0:
                    return found
                continue
            if message.get("type") != "message":
                continue
            stream = _text(message["channel"])
            body = _decode(message["data"])
            entry = Entry(stream, str(body["id"]), body["d"])
            if stream not in wanted:
                self._hold(group, entry)  # for the read that asks for this stream
                continue
            found.append(entry)
            taken[stream] = taken.get(stream, 0) + 1
            if taken[stream] >= count:
                return found

    def _hold(self, group: str, entry: Entry) -> None:
        with self._lock:
            self._held.setdefault(group, []).append(entry)

    def ack(self, group: str, ids_by_stream: Mapping[str, Sequence[str]]) -> int:
        """Nothing is pending on Pub/Sub: returns 0."""
        return 0

    def claim_stale(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 1000
    ) -> list[Entry]:
        """Nothing is pending on Pub/Sub: nothing to take over."""
        return []

    def own_pending(
        self, group: str, consumer: str, streams: Sequence[str], count: int = 1000
    ) -> list[Entry]:
        return []

    def pending(self, stream: str, group: str) -> int:
        return 0

    def lag(self, stream: str, group: str) -> int | None:
        """Unknown: Redis keeps no Pub/Sub backlog."""
        return None

    def trim(self, stream: str, retain: int = 0) -> int:
        return 0

    def streams(self) -> list[str]:
        """Channels with at least one subscriber on the server."""
        return sorted(_text(c) for c in self._call("PUBSUB CHANNELS", self._client.pubsub_channels))

    def truncate(self) -> None:
        """Nothing is stored."""

    def close(self) -> None:
        with self._lock:
            for pubsub in self._subscriptions.values():
                pubsub.close()
            self._subscriptions.clear()
            self._channels.clear()
            self._held.clear()
        self._client.close()
