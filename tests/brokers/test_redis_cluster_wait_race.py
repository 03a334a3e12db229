"""A consumer waiting on several Redis Cluster shards misses nothing published just before.

With partitions on several shards, a read that finds nothing blocks with
one ``XREAD`` per shard. An entry added between the empty ``XREADGROUP``
and the start of that wait must wake it at once: the wait starts after the
newest entry this consumer was given, not at ``$`` (the stream's end when
the wait begins), which would leave the entry to the next read, a whole
block later.
"""

from __future__ import annotations

import threading
import uuid

import pytest

redis = pytest.importorskip("redis")

from archipel.adapters.redis.broker import RedisBroker  # noqa: E402
from archipel.adapters.redis.cluster import cluster_key  # noqa: E402

pytestmark = pytest.mark.redis


def _broker(url: str) -> RedisBroker:
    return RedisBroker("default", {"URI": url, "cluster": True})


@pytest.fixture
def reader(redis_cluster_url):
    """A broker, and two streams of group ``g`` on two masters, each having given ``c`` one entry
    (``busy``: ``{"n": 1}``): ``(broker, busy, quiet)``."""
    broker = _broker(redis_cluster_url)
    try:
        category = f"bank::account{uuid.uuid4().hex[:6]}"
        candidates = [f"{category}#{n}" for n in range(16)]
        for stream in candidates:
            broker.ensure_group(stream, "g")  # (connects)
        node = {s: broker._client.get_node_from_key(cluster_key(s)).name for s in candidates}
        busy = candidates[0]
        quiet = next(s for s in candidates if node[s] != node[busy])
        broker.publish(busy, {"n": 1})
        assert [e.payload for e in broker.read("g", "c", [busy, quiet], count=10, block_ms=1000)] == [{"n": 1}]
        yield broker, busy, quiet
    finally:
        broker.close()


def test_an_entry_published_as_the_wait_starts_is_read_by_that_wait(reader):
    broker, busy, quiet = reader
    streams = [busy, quiet]
    fan_out = broker._fan_out
    assert fan_out is not None
    blocking_read = fan_out.read

    def publish_then_wait(work, read_one):  # the entry lands after the empty read
        broker.publish(busy, {"n": 2})
        return blocking_read(work, read_one)

    fan_out.read = publish_then_wait  # type: ignore[method-assign]
    got = broker.read("g", "c", streams, count=10, block_ms=1500)
    fan_out.read = blocking_read  # type: ignore[method-assign]
    assert [(e.stream, e.payload) for e in got] == [(busy, {"n": 2})]


def test_a_wait_woken_by_an_entry_another_consumer_took_goes_on_waiting_for_new_ones(
    reader, redis_cluster_url
):
    broker, busy, quiet = reader
    streams = [busy, quiet]
    other = _broker(redis_cluster_url)
    try:
        broker.publish(busy, {"n": 2})
        # another consumer of the group is given n=2: this one's wait wakes, reads nothing
        assert [e.payload for e in other.read("g", "c2", [busy], count=10)] == [{"n": 2}]
        assert broker.read("g", "c", streams, count=10, block_ms=500) == []
        # and the next wait blocks (it does not wake again for n=2) until something new comes
        publisher = threading.Timer(0.3, lambda: broker.publish(quiet, {"n": 3}))
        publisher.start()
        got = broker.read("g", "c", streams, count=10, block_ms=3000)
        publisher.join()
        assert [(e.stream, e.payload) for e in got] == [(quiet, {"n": 3})]
        assert broker.pending(busy, "g") == 2 and broker.pending(quiet, "g") == 1
    finally:
        other.close()
