"""``RedisBroker.publish_encoded``: payloads published as the outbox stores them (JSON text).

On one Redis the batch is one call of a script that adds the entries in
order; on a cluster, one pipeline per master. The relay uses it for the
outbox rows it claims as text (``SqlOutbox.claim_encoded``).
"""

from __future__ import annotations

import msgspec
import pytest
import redis

from archipel.adapters.redis.broker import RedisBroker
from archipel.errors import BrokerUnavailable

pytestmark = pytest.mark.redis


def _payloads(count: int) -> list[dict]:
    return [{"metadata": {"id": f"m{i}"}, "data": {"n": i, "text": "é ✓"}} for i in range(count)]


@pytest.fixture(params=["redis", "redis-cluster"])
def broker(request: pytest.FixtureRequest):
    if request.param == "redis":
        made = RedisBroker("default", {"URI": request.getfixturevalue("redis_flushed_url")})
    else:
        url = request.getfixturevalue("redis_cluster_url")
        made = RedisBroker("default", {"URI": url, "cluster": True})
    yield made
    made.close()


def test_encoded_payloads_are_read_back_as_the_messages_in_order(broker):
    payloads = _payloads(30)
    # two partitions' streams interleaved, as a relay's batch is
    streams = [f"shop::order#{i % 2}" for i in range(30)]
    ids = broker.publish_encoded(
        [(stream, msgspec.json.encode(p).decode()) for stream, p in zip(streams, payloads, strict=True)]
    )
    assert len(ids) == 30
    for part in (0, 1):
        stream = f"shop::order#{part}"
        broker.ensure_group(stream, "g")
        got = [entry.payload for entry in broker.read("g", "c", [stream], count=100)]
        assert got == [p for s, p in zip(streams, payloads, strict=True) if s == stream]


def test_publish_many_and_publish_encoded_store_the_same_entry(broker):
    payload = _payloads(1)[0]
    broker.publish_many([("shop::a", payload)])
    broker.publish_encoded([("shop::a", msgspec.json.encode(payload))])
    broker.ensure_group("shop::a", "g")
    assert [e.payload for e in broker.read("g", "c", ["shop::a"], count=10)] == [payload, payload]


def test_a_flushed_script_cache_is_loaded_again(redis_flushed_url):
    broker = RedisBroker("default", {"URI": redis_flushed_url})
    try:
        broker.publish_many([("shop::a", {"n": 1})])
        client = redis.Redis.from_url(redis_flushed_url)
        client.script_flush()  # as after a Redis restart
        client.close()
        broker.publish_many([("shop::a", {"n": 2})])
        broker.ensure_group("shop::a", "g")
        assert [e.payload for e in broker.read("g", "c", ["shop::a"], count=10)] == [{"n": 1}, {"n": 2}]
    finally:
        broker.close()


def test_replica_acks_without_replicas_refuse_the_publish(redis_flushed_url):
    broker = RedisBroker("default", {"URI": redis_flushed_url, "replica_acks": 1, "replica_ack_timeout_ms": 50})
    try:
        with pytest.raises(BrokerUnavailable, match="only 0 of 1 replicas"):
            broker.publish_many([("shop::a", {"n": 1})])
    finally:
        broker.close()


def test_entries_of_other_producers_are_read_as_text_fields(broker):
    # XADD by something else than archipel: field/value pairs, one of them maybe "d"
    broker.ensure_group("shop::foreign", "g")  # (connects a cluster client)
    client = broker._client
    key = broker._key("shop::foreign")
    client.xadd(key, {"kind": "ping", "n": "1"})
    client.xadd(key, {"d": "not json"})
    broker.publish_many([("shop::foreign", {"n": 2})])
    got = [e.payload for e in broker.read("g", "c", ["shop::foreign"], count=10)]
    assert got == [{"kind": "ping", "n": "1"}, {"d": "not json"}, {"n": 2}]
    # one entry alone in a reply (a reply's shape differs with one entry)
    broker.publish_many([("shop::foreign", {"n": 3})])
    assert [e.payload for e in broker.read("g", "c", ["shop::foreign"], count=10)] == [{"n": 3}]
