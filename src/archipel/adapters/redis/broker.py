"""Redis Streams broker (``provider = "redis"``, ``URI``/``url`` in ``[brokers.<name>]``).

Each payload is one stream entry with a single field ``d``: the payload as
JSON (msgspec). Entries written by other producers (field/value pairs) are
read back as a dict of text fields, so subscribers can consume foreign streams.

Consumer groups map one to one: ``XREADGROUP``/``XACK``, ``XAUTOCLAIM`` to
take over the pending entries of a dead consumer, ``XPENDING``/``XINFO`` for
status. Trimming (``XTRIM MINID``) cuts only below the oldest entry some group
still needs (its oldest pending entry, else the first entry after its
last-delivered id), so nothing unacknowledged is ever dropped.

Connection errors are retried by redis-py with exponential backoff and
jitter (a Redis restart of a few seconds is ridden out transparently); after
that they surface as :class:`~archipel.errors.BrokerUnavailable`, whose
message names the server without its password. The engine's loops catch it
and back off.

``XREADGROUP`` is the exception: it goes through a second client that never
retries. Redis may have delivered entries (and persisted the delivery) when
the connection drops before its reply arrives; a silent retry would read past
them, leaving them pending for a consumer that never saw them and still holds
its partition. The error reaches the consumer instead, which recovers them
with :meth:`RedisBroker.own_pending` before reading on.

**Redis Cluster** (``cluster = true``): the URL names any one node, the
client discovers the others and follows slot moves and failovers. A
partition's streams share a hash tag and partitions spread over the
shards; a read spanning several shards is one command per slot, and
blocks on all of them at once (:mod:`archipel.adapters.redis.cluster`).

**Replicated publishes** (``replica_acks = N``): Redis replicates
asynchronously, so a master that crashes right after an ``XADD`` can take
the entry with it when its replica is promoted — and the outbox has already
marked it sent. With ``replica_acks`` a publish also waits (``WAIT``, at
most ``replica_ack_timeout_ms``) until ``N`` replicas of every master
written to have the entries; if fewer do, it raises
:class:`~archipel.errors.BrokerUnavailable` and the relay publishes the
batch again later (consumers drop the copies).

Settings of ``[brokers.<name>]``: ``URI`` (or ``url``/``uri``), ``cluster``,
``retries``, ``connect_timeout``, ``socket_timeout``, ``max_connections``
(per node on a cluster), ``replica_acks`` (0), ``replica_ack_timeout_ms``
(2000). Any other key is a :class:`ConfigurationError`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry

from archipel.adapters.payload import check_payload
from archipel.adapters.redis.cluster import (
    BlockingFanOut,
    by_slot,
    check_replicated,
    cluster_key,
    publish_replicated,
    stream_of,
)
from archipel.errors import BrokerError, BrokerUnavailable, ConfigurationError
from archipel.port.broker import Entry, PublishCallback

__all__ = ["RedisBroker"]

T = TypeVar("T")

_FIELD = b"d"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_PASSWORD = re.compile(r"(?P<prefix>://[^:/?#@\s]*:)[^@/?#\s]*@")
#: longest single block of XREADGROUP; the socket timeout must exceed it
_MAX_BLOCK_MS = 5000
_SETTINGS = frozenset(
    {"provider", "URI", "url", "uri", "cluster", "retries", "connect_timeout", "socket_timeout",
     "max_connections", "replica_acks", "replica_ack_timeout_ms"}
)
#: domain settings misplaced under [brokers.<name>] by TOML: the server warns about them
_MISPLACED = frozenset({"event_processing", "command_processing", "message_processing", "enable_outbox"})
#: errors of a cluster that is failing over or missing a shard: retry later
_CLUSTER_OUTAGES = (
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.AskError,
    redis.exceptions.ClusterError,
    redis.exceptions.SlotNotCoveredError,
    # redis-py >= 6 only: no node of the cluster answers
    getattr(redis.exceptions, "RedisClusterUnreachableError", redis.exceptions.ClusterDownError),
)


def _count(config: Mapping[str, Any], key: str, default: int, name: str) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"[brokers.{name}] {key} must be a whole number >= 0, got {value!r}")
    return value


def _redact(url: str) -> str:
    return _PASSWORD.sub(lambda m: f"{m.group('prefix')}***@", url)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _next_id(entry_id: str) -> str:
    """The smallest stream id greater than ``entry_id``."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class RedisBroker:
    """A broker on Redis Streams; thread-safe (a connection pool per broker)."""

    #: entries are shared between processes: ``archipel server`` delivers them,
    #: never the publishing process
    delivers_inline = False
    #: every process with the URL reaches the same streams (``archipel dlq replay`` relies on it)
    shared_between_processes = True

    def __init__(self, name: str = "default", config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.config = config or {}
        unknown = sorted(set(self.config) - _SETTINGS - _MISPLACED)
        if unknown:
            raise ConfigurationError(
                f"[brokers.{name}] unknown setting(s) {', '.join(unknown)} for provider \"redis\"; "
                f"allowed: {', '.join(sorted(_SETTINGS))}"
            )
        cluster = self.config.get("cluster", False)
        if not isinstance(cluster, bool):
            raise ConfigurationError(f"[brokers.{name}] cluster must be true or false, got {cluster!r}")
        url = self.config.get("URI") or self.config.get("url") or self.config.get("uri")
        if not url:
            raise ConfigurationError(
                f"[brokers.{name}] provider = \"redis\" needs a server address: "
                'add URI = "redis://localhost:6379/0" (or url = ...)'
            )
        self.url = str(url)
        self._where = _redact(self.url)
        retries = int(self.config.get("retries", 6))
        options: dict[str, Any] = {
            "socket_connect_timeout": float(self.config.get("connect_timeout", 2.0)),
            "socket_timeout": float(self.config.get("socket_timeout", 10.0)),
            "socket_keepalive": True,
            "health_check_interval": 30,
            "max_connections": int(self.config.get("max_connections", 64)),
        }
        self._retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries)
        #: publishes wait until this many replicas have the entries (WAIT)
        self._replica_acks = _count(self.config, "replica_acks", 0, name)
        self._ack_timeout_ms = _count(self.config, "replica_ack_timeout_ms", 2000, name)
        self._options = options
        #: cluster mode: key names with hash tags, reads split by slot
        self._fan_out: BlockingFanOut | None = BlockingFanOut() if cluster else None
        self._client: Any = None
        self._reader: Any = None
        try:
            if cluster:
                self._check_cluster_url()
            else:
                self._connect()
        except ValueError as exc:
            raise ConfigurationError(f"[brokers.{name}] invalid Redis URL {self._where}: {exc}") from exc
        self._groups: set[tuple[str, str]] = set()

    def _check_cluster_url(self) -> None:
        # the cluster client connects when made (to learn the topology): it is
        # made on first use, so that a cluster that is down is an outage, not a
        # configuration error; the URL is checked now
        parse: Any = redis.connection.parse_url  # untyped in redis-py
        parsed = parse(self.url)
        if int(parsed.get("db") or 0) != 0:
            raise ConfigurationError(
                f"[brokers.{self.name}] Redis Cluster has only database 0; {self._where} names "
                f"database {parsed['db']}"
            )

    def _connect(self) -> None:
        """Make the clients (on a cluster: discover its nodes and slots)."""
        if self._fan_out is None:
            self._client = redis.Redis.from_url(
                self.url,
                retry=self._retry,
                retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
                **self._options,
            )
            self._reader = redis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0), **self._options)
            return
        self._client = redis.RedisCluster.from_url(self.url, retry=self._retry, **self._options)
        try:
            # XREADGROUP is never retried (see above); redirects are still followed
            self._reader = redis.RedisCluster.from_url(self.url, retry=Retry(NoBackoff(), 0), **self._options)
        except BaseException:
            self._client.close()
            raise

    def _key(self, stream: str) -> str:
        """The Redis key of ``stream`` (on a cluster: with its partition's hash tag)."""
        if self._fan_out is None:
            return stream
        try:
            return cluster_key(stream)
        except ValueError as exc:
            raise BrokerError(str(exc)) from exc

    def _stream(self, key: Any) -> str:
        """The stream name stored under Redis ``key``."""
        name = _text(key)
        return name if self._fan_out is None else stream_of(name)

    def __repr__(self) -> str:
        return f"<RedisBroker {self.name!r} {self._where}>"

    # -- error translation ---------------------------------------------------
    def _call(self, what: str, action: Callable[[], T]) -> T:
        try:
            if self._client is None:
                self._connect()
            return action()
        except _CLUSTER_OUTAGES as exc:
            raise BrokerUnavailable(
                f"Redis Cluster at {self._where} cannot serve {what} right now ({exc}); a failover "
                "or a missing shard — archipel retries with backoff"
            ) from exc
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise BrokerUnavailable(
                f"Redis at {self._where} is unreachable ({what}: {exc}); check that it runs "
                "and the URL in [brokers] is right — archipel retries with backoff"
            ) from exc
        except redis.exceptions.RedisError as exc:
            if "NOGROUP" in str(exc):
                self._groups.clear()  # the stream vanished: create groups again next time
            raise BrokerError(f"Redis at {self._where} refused {what}: {exc}") from exc
        except redis.exceptions.RedisClusterException as exc:
            if self._client is None:  # discovering the cluster: no node answered
                raise BrokerUnavailable(
                    f"Redis Cluster at {self._where} is unreachable ({what}: {exc}); check that it "
                    "runs and the URL in [brokers] is right — archipel retries with backoff"
                ) from exc
            raise BrokerError(f"Redis Cluster at {self._where} refused {what}: {exc}") from exc

    # -- publishing ------------------------------------------------------------
    def on_publish(self, callback: PublishCallback | None) -> None:
        """Ignored: Redis entries are delivered by ``archipel server``, in any process."""

    def publish(self, stream: str, payload: dict[str, Any]) -> str:
        check_payload(payload)
        return self.publish_many([(stream, payload)])[0]

    def publish_many(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        if not entries:
            return []
        encoded = []
        for stream, payload in entries:
            if not isinstance(payload, dict):
                raise TypeError(f"broker payloads are dicts, got {type(payload).__name__}")
            encoded.append((stream, _encode(payload)))

        def run() -> list[Any]:
            keyed = [(self._key(stream), data) for stream, data in encoded]
            if self._replica_acks and self._fan_out is not None:
                return publish_replicated(
                    self._client, keyed, _FIELD, self._replica_acks, self._ack_timeout_ms
                )
            pipe = self._client.pipeline(transaction=False)
            for key, data in keyed:
                pipe.xadd(key, {_FIELD: data})
            if self._replica_acks:
                pipe.execute_command("WAIT", self._replica_acks, self._ack_timeout_ms)
            ids: list[Any] = pipe.execute()
            if self._replica_acks:
                check_replicated(int(ids.pop()), self._replica_acks, self._ack_timeout_ms)
            return ids

        return [_text(i) for i in self._call(f"XADD of {len(entries)} entries", run)]

    # -- consuming ---------------------------------------------------------------
    def has_group(self, stream: str, group: str) -> bool:
        """Whether ``group`` exists on ``stream`` (a new subscription catches up when not)."""
        return any(_text(info["name"]) == group for info in self._group_info(stream))

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
        out: list[Entry] = []
        for keys in slots:
            wait = block if len(slots) == 1 else None
            part = [named[key] for key in keys]
            read = functools.partial(self._read_streams, group, consumer, part, count, wait)
            out += self._entries(self._call(f"XREADGROUP {group}", read))
        if out or block is None or len(slots) == 1:
            return out
        fan_out = self._fan_out

        def read_one(client: redis.Redis, keys: list[str]) -> Any:
            return client.xreadgroup(group, consumer, dict.fromkeys(keys, ">"), count=count, block=block)

        def run() -> list[Any]:
            work = [(self._reader.get_node_from_key(keys[0]), keys) for keys in slots]
            replies: list[Any] = fan_out.read(work, read_one)
            return replies

        for reply in self._call(f"XREADGROUP {group} (blocking on {len(slots)} slots)", run):
            out += self._entries(reply)
        return out

    def _entries(self, reply: Any) -> list[Entry]:
        out: list[Entry] = []
        if not reply:
            return out
        items = reply.items() if isinstance(reply, dict) else reply
        for stream_name, messages in items:
            if isinstance(messages, list) and messages and isinstance(messages[0], list) and len(messages) == 1:
                messages = messages[0]  # RESP3 shape: {stream: [[entries]]}
            stream = self._stream(stream_name)
            for entry_id, fields in messages:
                if fields is None:
                    continue  # deleted while pending
                out.append(Entry(stream, _text(entry_id), self._payload(fields)))
        return out

    @staticmethod
    def _payload(fields: Mapping[Any, Any]) -> dict[str, Any]:
        data = fields.get(_FIELD)
        if data is not None and len(fields) == 1:
            decoded = _decode(data)
            if isinstance(decoded, dict):
                return decoded
        return {_text(k): _text(v) for k, v in fields.items()}

    def ack(self, group: str, ids_by_stream: Mapping[str, Sequence[str]]) -> int:
        work = [(stream, list(ids)) for stream, ids in ids_by_stream.items() if ids]
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

    # -- inspecting and housekeeping ------------------------------------------
    def _group_info(self, stream: str) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            try:
                groups = self._client.xinfo_groups(self._key(stream))
            except redis.exceptions.ResponseError as exc:
                if "no such key" in str(exc).lower():
                    return []
                raise
            return [{_text(k): v for k, v in g.items()} for g in groups]

        return self._call(f"XINFO GROUPS {stream}", run)

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

    def ping(self) -> bool:
        """Whether Redis answers (health checks)."""
        try:
            return bool(self._call("PING", self._client.ping))
        except BrokerError:
            return False

    def close(self) -> None:
        if self._fan_out is not None:
            self._fan_out.close()
            for cluster_client in (self._client, self._reader):
                if cluster_client is not None:
                    cluster_client.close()
            return
        for client in (self._client, self._reader):
            client.close()
            client.connection_pool.disconnect()
