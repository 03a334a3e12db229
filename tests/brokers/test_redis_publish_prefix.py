"""A publish that fails partway leaves, of each stream, only a *prefix* of its entries.

The relay relies on it for per-aggregate order: when a publish raises, it
gives every row of the batch back and publishes them again, in order. If an
entry had been refused while later entries of its stream went in (a Redis
Cluster node answering ``CLUSTERDOWN`` to one command of a pipeline while it
fails over and accepting the next ones; redis-py's cluster pipeline sending
the failed commands again one by one and going on past one that fails), the
refused entry would reach the stream only with the copies, after the later
entries: its consumers would handle it after them (seen once in CI: a
ledger ``... 106, 107, 102, 108 ...`` after a ``CLUSTER FAILOVER``).

The fault is a node refusing one command (:mod:`tests.brokers.refusing`):
every command carrying the payload of entry ``k`` reaches Redis under an
unknown name, on real servers — one Redis, and the session's Redis Cluster
with and without ``replica_acks``.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

redis = pytest.importorskip("redis")

from archipel.adapters.redis.broker import RedisBroker  # noqa: E402
from archipel.errors import BrokerError  # noqa: E402
from tests.brokers.refusing import refusing  # noqa: E402

pytestmark = pytest.mark.redis


def _broker(kind: str, request: pytest.FixtureRequest) -> RedisBroker:
    # no retries: a refused command is refused however often it is sent
    if kind == "redis":
        server = request.getfixturevalue("redis_server")
        if not server.running:
            server.start()
        return RedisBroker("default", {"URI": server.url(), "retries": 0})
    cluster = request.getfixturevalue("redis_cluster")
    cluster.wait_ok()
    config: dict[str, Any] = {"URI": cluster.url(), "cluster": True, "retries": 0}
    if kind == "redis-cluster-replica-acks":
        config["replica_acks"] = 1
    return RedisBroker("default", config)


@pytest.mark.parametrize("kind", ["redis", "redis-cluster", "redis-cluster-replica-acks"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    streams_of=st.lists(st.integers(min_value=0, max_value=3), min_size=2, max_size=40),
    refused=st.integers(min_value=0),
)
def test_a_failed_publish_leaves_of_each_stream_only_a_prefix_and_publishing_again_keeps_the_order(
    kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
    streams_of: list[int], refused: int,
) -> None:
    category = f"bank::account{uuid.uuid4().hex[:8]}"
    batch = [
        (f"{category}#{part}", msgspec.json.encode({"n": n, "id": f"{category}/{n}"}))
        for n, part in enumerate(streams_of)
    ]
    refused %= len(batch)
    with refusing(monkeypatch) as fault:
        broker = _broker(kind, request)
        try:
            broker.ensure_group(batch[0][0], "warm-up")  # (connects: the cluster client learns the slots)
            marker = f'"{category}/{refused}"'.encode()
            fault.matches = lambda argument: marker in argument
            with pytest.raises(BrokerError):
                broker.publish_encoded(batch)
            assert fault.refused >= 1
            fault.matches = None
            landed = _published(broker, batch)
            # the relay gives the whole batch back and publishes it again
            broker.publish_encoded(batch)
            again = _published(broker, batch)
        finally:
            broker.close()
    for stream in sorted({s for s, _ in batch}):
        wanted = [n for n, (s, _) in enumerate(batch) if s == stream]
        assert landed[stream] == wanted[: len(landed[stream])], (
            f"{stream}: the failed publish added {landed[stream]} of {wanted} (entry {refused} was refused)"
        )
        first_seen = list(dict.fromkeys(again[stream]))  # a consumer drops the copies
        assert first_seen == wanted, f"{stream}: consumers would see {first_seen}, not {wanted}"


def _published(broker: RedisBroker, batch: list[tuple[str, bytes]]) -> dict[str, list[int]]:
    """Each stream's entries, as the ``n`` of their payloads, in stream order."""
    client = broker._client
    found = {}
    for stream in {s for s, _ in batch}:
        found[stream] = [int(msgspec.json.decode(f[b"d"])["n"]) for _, f in client.xrange(broker._key(stream))]
    return found
