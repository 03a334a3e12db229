"""The Redis connection of a broker: settings, clients, key names and error translation.

:class:`RedisConnection` reads ``[brokers.<name>]`` (unknown keys are a
:class:`~archipel.errors.ConfigurationError`), makes the clients — one that
retries with backoff, one for ``XREADGROUP`` that never retries (see
:mod:`archipel.adapters.redis.broker`) — and turns redis-py's errors into
:class:`~archipel.errors.BrokerUnavailable` (an outage: retried) or
:class:`~archipel.errors.BrokerError`, naming the server without its password.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry

from archipel.adapters.redis.cluster import BlockingFanOut, cluster_key, stream_of
from archipel.errors import BrokerError, BrokerUnavailable, ConfigurationError
from archipel.port.broker import Entry

__all__ = ["RedisConnection"]

T = TypeVar("T")

_FIELD = b"d"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_PASSWORD = re.compile(r"(?P<prefix>://[^:/?#@\s]*:)[^@/?#\s]*@")
#: longest single block of XREADGROUP; the socket timeout must exceed it
_MAX_BLOCK_MS = 5000


def _json_object(data: Any) -> dict[str, Any] | None:
    """``data`` decoded, if it is a JSON object (an archipel payload); else None (another
    producer's field ``d``: read as text like its other fields)."""
    try:
        decoded = _decode(data)
    except msgspec.DecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _as_received(response: Any, **options: Any) -> Any:
    """A response callback that keeps the reply as the parser made it."""
    return response

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


class RedisConnection:
    """Clients, key names and error translation shared by every part of :class:`RedisBroker`."""

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
        #: (group, stream key) -> id of the newest entry read for it (cluster waits start there)
        self._seen: dict[tuple[str, str], str] = {}

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
            # the reply of a read as it comes (parsed in C), entries read by _entries: no
            # redis-py conversion of it, no dict made of each entry's fields
            self._reader.set_response_callback("XREADGROUP", _as_received)
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
        return f"<{type(self).__name__} {self.name!r} {self._where}>"

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
                self._seen.clear()
            raise BrokerError(f"Redis at {self._where} refused {what}: {exc}") from exc
        except redis.exceptions.RedisClusterException as exc:
            if self._client is None:  # discovering the cluster: no node answered
                raise BrokerUnavailable(
                    f"Redis Cluster at {self._where} is unreachable ({what}: {exc}); check that it "
                    "runs and the URL in [brokers] is right — archipel retries with backoff"
                ) from exc
            raise BrokerError(f"Redis Cluster at {self._where} refused {what}: {exc}") from exc

    def _entries(self, reply: Any) -> list[Entry]:
        out: list[Entry] = []
        if not reply:
            return out
        items = reply.items() if isinstance(reply, dict) else reply
        for stream_name, messages in items:
            if (
                isinstance(messages, list)
                and len(messages) == 1
                and isinstance(messages[0], list)
                and messages[0]
                and isinstance(messages[0][0], (list, tuple))
            ):
                messages = messages[0]  # RESP3 shape: {stream: [[entries]]} (an entry is [id, fields])
            stream = self._stream(stream_name)
            for entry_id, fields in messages:
                if fields is None:
                    continue  # deleted while pending
                out.append(Entry(stream, _text(entry_id), self._payload(fields)))
        return out

    @staticmethod
    def _payload(fields: Mapping[Any, Any] | Sequence[Any]) -> dict[str, Any]:
        """An entry's payload from its fields: a mapping, or as received, ``[field, value, ...]``."""
        if fields.__class__ is list or not isinstance(fields, Mapping):  # (a list: no ABC check)
            if len(fields) == 2 and fields[0] == _FIELD:
                decoded = _json_object(fields[1])
                if decoded is not None:
                    return decoded
            return {_text(fields[i]): _text(fields[i + 1]) for i in range(0, len(fields) - 1, 2)}
        data = fields.get(_FIELD)
        if data is not None and len(fields) == 1:
            decoded = _json_object(data)
            if decoded is not None:
                return decoded
        return {_text(k): _text(v) for k, v in fields.items()}

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
