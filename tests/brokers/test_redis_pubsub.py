"""The ``redis_pubsub`` broker: Redis Pub/Sub, at most once (not in the at-least-once contract suite)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from archipel import Domain
from archipel.adapters.redis.pubsub import RedisPubSubBroker
from archipel.errors import ConfigurationError
from archipel.port import registry

pytestmark = pytest.mark.redis


@pytest.fixture
def pubsub(redis_flushed_url: str) -> Iterator[RedisPubSubBroker]:
    broker = RedisPubSubBroker("default", {"URI": redis_flushed_url})
    try:
        yield broker
    finally:
        broker.close()


def test_a_group_receives_what_is_published_after_it_subscribed_in_order(pubsub):
    stream = f"s-{uuid.uuid4().hex[:6]}"
    lost = pubsub.publish(stream, {"n": 0})  # nobody listens: gone (at most once)
    pubsub.ensure_group(stream, "g")
    ids = pubsub.publish_many([(stream, {"n": 1}), (stream, {"n": 2}), (stream, {"n": 3})])
    got = pubsub.read("g", "c1", [stream], count=10, block_ms=2000)
    assert [e.payload for e in got] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert [e.id for e in got] == ids and lost not in ids
    assert pubsub.read("g", "c1", [stream], count=10, block_ms=50) == []  # delivered once
    assert pubsub.ack("g", {stream: ids}) == 0 and pubsub.pending(stream, "g") == 0
    assert pubsub.claim_stale(stream, "g", "c2", 0) == [] and pubsub.lag(stream, "g") is None


def test_every_group_gets_every_entry_and_count_is_per_stream(pubsub):
    a, b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    for group in ("g1", "g2"):
        pubsub.ensure_group(a, group)
        pubsub.ensure_group(b, group)
    pubsub.publish_many([(a, {"x": 1}), (b, {"y": 1}), (a, {"x": 2})])
    first = pubsub.read("g1", "c", [a], count=1, block_ms=2000)
    assert [e.payload for e in first] == [{"x": 1}]
    rest = pubsub.read("g1", "c", [a, b], count=10, block_ms=500)
    assert sorted((e.stream, str(e.payload)) for e in rest) == sorted([(b, "{'y': 1}"), (a, "{'x': 2}")])
    everything = pubsub.read("g2", "c", [a, b], count=10, block_ms=2000)
    assert len(everything) == 3


def test_sync_callback_sees_every_publish(pubsub):
    seen: list[tuple[str, dict[str, Any]]] = []
    pubsub.on_publish(lambda stream, payload: seen.append((stream, payload)))
    pubsub.publish("news", {"k": 1})
    assert seen == [("news", {"k": 1})]


def test_provider_name_builds_it_and_needs_a_uri(redis_flushed_url):
    made = registry.create("broker", "redis_pubsub", "fast", {"URI": redis_flushed_url})
    assert isinstance(made, RedisPubSubBroker)
    made.close()
    with pytest.raises(ConfigurationError, match="URI"):
        RedisPubSubBroker("x", {})
    domain = Domain(name=f"P{uuid.uuid4().hex[:6]}", config={
        "brokers": {"default": {"provider": "inline"}, "fast": {"provider": "redis_pubsub", "URI": redis_flushed_url}},
    })
    domain.init(traverse=False)
    try:
        assert isinstance(domain.providers.broker("fast"), RedisPubSubBroker)
    finally:
        domain.shutdown()
