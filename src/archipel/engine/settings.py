"""The engine's settings, read once from a domain's configuration.

``[server]``: ``messages_per_tick`` (messages handled per batch: one
transaction), ``read_ahead`` (entries a consumer reads and buffers per owned
partition at least, whatever ``messages_per_tick``: with one message per
transaction, reading per batch costs more than the batch),
``priority_lanes`` (bulk messages on their own streams), ``health_port``,
``partitions`` (ordering partitions per stream category: the unit of
parallelism and of ownership between workers), ``lease_seconds`` (how long a
worker owns a partition or the relay without renewing; a worker silent for
longer is taken over), ``relay_shards`` (how many relays may publish one
database's outbox in parallel, each a share of its aggregates; default
``partitions``; change it only with every worker stopped, and run
``setup-outbox`` so that PostgreSQL's claim index for the new count exists),
``relay_batch_size``, ``outbox_retention_seconds``, ``trim_interval_seconds``,
``deadline_poll_seconds`` (how often due process-manager deadlines are fired),
``relay_weight`` (the share of a worker's time the outbox relay is assumed to
take: when only some workers relay, they take that much fewer partitions),
``metrics_port`` and ``metrics_host`` (Prometheus ``/metrics``; off without a
port; the host defaults to 127.0.0.1: bind another address only on purpose).

``[server.stream_subscription]``: ``blocking_timeout_ms``, ``max_retries``,
``retry_delay_seconds`` (first backoff; doubles each retry, with jitter, up
to ``max_retry_delay_seconds``), ``enable_dlq``, ``park_after_dead_letter``
(later messages of an aggregate whose message was dead-lettered are parked
in the DLQ too, so replay keeps the aggregate's order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from archipel.errors import ConfigurationError

__all__ = ["PROTEAN_SERVER_KEYS", "SERVER_KEYS", "STREAM_KEYS", "EngineSettings"]


def _number(table: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
    value = table.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigurationError(f"[server] {key} = {value!r}: expected a number >= {minimum}")
    return float(value)


#: ``[server]`` keys the engine reads
SERVER_KEYS = frozenset(
    {
        "messages_per_tick", "read_ahead", "priority_lanes", "partitions", "lease_seconds",
        "relay_batch_size", "relay_shards", "relay_weight", "outbox_retention_seconds",
        "trim_interval_seconds", "deadline_poll_seconds", "health_port", "metrics_port",
        "metrics_host", "stream_subscription", "default_subscription_type", "health",
    }
)
#: ``[server.health]`` keys (Protean's table): ``enabled``, ``host``, ``port``, ``port_auto_increment``
HEALTH_KEYS = frozenset({"enabled", "host", "port", "port_auto_increment"})
#: ``[server.stream_subscription]`` keys the engine reads
STREAM_KEYS = frozenset(
    {
        "blocking_timeout_ms", "max_retries", "retry_delay_seconds", "max_retry_delay_seconds",
        "enable_dlq", "park_after_dead_letter",
    }
)
#: Protean 0.18's ``[server]`` keys: accepted so a ported ``domain.toml`` loads; archipel's
#: engine has no use for them (one kind of subscription, no tick polling, see engine.md)
PROTEAN_SERVER_KEYS = frozenset(
    {
        "default_subscription_profile", "tick_interval", "drain_timeout",
        "event_store_subscription", "broker_subscription", "version_retry",
    }
)


def _check_keys(server: Mapping[str, Any], stream: Mapping[str, Any]) -> None:
    unknown = sorted(k for k in server if k not in SERVER_KEYS and k not in PROTEAN_SERVER_KEYS)
    if unknown and "transient_retry" not in unknown:  # that one has its own message (config)
        raise ConfigurationError(
            f"[server] unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SERVER_KEYS))} "
            f"(and Protean's {', '.join(sorted(PROTEAN_SERVER_KEYS))}, accepted without effect)"
        )
    unknown = sorted(k for k in stream if k not in STREAM_KEYS)
    if unknown:
        raise ConfigurationError(
            f"[server.stream_subscription] unknown setting(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(STREAM_KEYS))}"
        )


def _health(server: Mapping[str, Any]) -> tuple[int | None, str, bool]:
    """``(port or None, host, auto-increment)`` from ``[server] health_port`` and Protean's
    ``[server.health]`` table (``enabled`` defaults to true there; archipel serves no health
    endpoint unless one of the two names a port: Protean 0.18 serves one on 8080 by default)."""
    legacy = server.get("health_port")
    if legacy is not None and (isinstance(legacy, bool) or not isinstance(legacy, int) or not 0 < legacy < 65536):
        raise ConfigurationError(f"[server] health_port = {legacy!r}: expected a port number (1-65535)")
    table = server.get("health")
    if table is None:
        return legacy or None, "127.0.0.1", False
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"[server] health = {table!r}: expected a table (enabled, host, port, port_auto_increment)")
    unknown = sorted(k for k in table if k not in HEALTH_KEYS)
    if unknown:
        raise ConfigurationError(
            f"[server.health] unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(HEALTH_KEYS))}"
        )
    for key in ("enabled", "port_auto_increment"):
        if key in table and not isinstance(table[key], bool):
            raise ConfigurationError(f"[server.health] {key} = {table[key]!r}: expected true or false")
    port = table.get("port", 8080)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"[server.health] port = {port!r}: expected a port number (1-65535)")
    host = table.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise ConfigurationError(f"[server.health] host = {host!r}: expected an address")
    if legacy and legacy != port and "port" in table:
        raise ConfigurationError(
            f"[server] health_port = {legacy} and [server.health] port = {port} disagree: keep one"
        )
    if not table.get("enabled", True):
        return None, host, False
    return legacy or port, host, bool(table.get("port_auto_increment", False))


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Everything the server needs to know; immutable."""

    messages_per_tick: int = 100
    read_ahead: int = 32
    blocking_timeout_ms: int = 100
    max_retries: int = 3
    retry_delay_seconds: float = 1.0
    max_retry_delay_seconds: float = 60.0
    enable_dlq: bool = True
    park_after_dead_letter: bool = True
    priority_lanes: bool = False
    partitions: int = 4
    lease_seconds: float = 10.0
    relay_batch_size: int = 500
    relay_shards: int = 4
    relay_weight: float = 0.25
    outbox_retention_seconds: float = 300.0
    trim_interval_seconds: float = 30.0
    #: how often a worker looks for due process-manager deadlines
    deadline_poll_seconds: float = 1.0
    health_port: int | None = None
    #: where the health endpoint binds (``[server.health] host``): loopback unless set
    health_host: str = "127.0.0.1"
    #: try the next ports when the health port is taken (``[server.health] port_auto_increment``)
    health_port_auto_increment: bool = False
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EngineSettings:
        """Read ``[server]`` and ``[server.stream_subscription]`` (defaults for what is missing)."""
        server = config.get("server") or {}
        stream = server.get("stream_subscription") or {}
        _check_keys(server, stream)
        health, health_host, auto_increment = _health(server)
        metrics = server.get("metrics_port")
        if metrics is not None and (isinstance(metrics, bool) or not isinstance(metrics, int)):
            raise ConfigurationError(f"[server] metrics_port = {metrics!r}: expected a port number")
        host = server.get("metrics_host", "127.0.0.1")
        if not isinstance(host, str) or not host:
            raise ConfigurationError(f"[server] metrics_host = {host!r}: expected an address")
        partitions = int(_number(server, "partitions", 4, 1))
        return cls(
            messages_per_tick=int(_number(server, "messages_per_tick", 100, 1)),
            read_ahead=int(_number(server, "read_ahead", 32, 1)),
            blocking_timeout_ms=int(_number(stream, "blocking_timeout_ms", 100, 0)),
            max_retries=int(_number(stream, "max_retries", 3, 0)),
            retry_delay_seconds=_number(stream, "retry_delay_seconds", 1.0, 0),
            max_retry_delay_seconds=_number(stream, "max_retry_delay_seconds", 60.0, 0),
            enable_dlq=bool(stream.get("enable_dlq", True)),
            park_after_dead_letter=bool(stream.get("park_after_dead_letter", True)),
            priority_lanes=bool(server.get("priority_lanes", False)),
            partitions=partitions,
            lease_seconds=_number(server, "lease_seconds", 10.0, 0.2),
            relay_batch_size=int(_number(server, "relay_batch_size", 500, 1)),
            relay_shards=int(_number(server, "relay_shards", partitions, 1)),
            relay_weight=min(0.9, _number(server, "relay_weight", 0.25, 0)),
            outbox_retention_seconds=_number(server, "outbox_retention_seconds", 300.0, 0),
            trim_interval_seconds=_number(server, "trim_interval_seconds", 30.0, 0.1),
            deadline_poll_seconds=_number(server, "deadline_poll_seconds", 1.0, 0.01),
            health_port=health,
            health_host=health_host,
            health_port_auto_increment=auto_increment,
            metrics_port=metrics,
            metrics_host=host,
        )

    def with_changes(self, **changes: Any) -> EngineSettings:
        """A copy with some settings replaced (tests, command-line overrides)."""
        return replace(self, **changes)
