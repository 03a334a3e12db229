"""A blocking read across shards while a master pauses writes (``CLUSTER FAILOVER`` does).

A consumer whose partitions sit on several shards blocks on all of them at
once and, when one answers, ends the others' reads with ``CLIENT UNBLOCK``.
During a planned failover the old master pauses writes (``CLIENT PAUSE
WRITE``) and *postpones* every write command that arrives — ``XREADGROUP``
is one. Redis 7.0–7.2 (and Valkey before 8.1.2) crash on ``CLIENT UNBLOCK
<id> TIMEOUT`` of such a postponed client ("Unknown btype in
replyToBlockedClientTimedOut()"), and with ``ERROR`` they answer it and
run the postponed command later anyway: a read delivered to nobody. Seen in
``tests/reliability/test_redis_cluster_faults.py``: the old master died
during ``CLUSTER FAILOVER``.

Here a real master pauses writes right before the consumer's blocking
reads start (a wrapper around the broker's blocking fan-out), and an entry
published on another master wakes the consumer.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

redis = pytest.importorskip("redis")

from archipel.adapters.redis.broker import RedisBroker  # noqa: E402
from archipel.adapters.redis.cluster import cluster_key  # noqa: E402
from tests._servers import _redis_call  # noqa: E402

pytestmark = pytest.mark.redis


def _masters_of(broker: RedisBroker, redis_cluster, streams: list[str]) -> dict[str, object]:
    client = broker._client
    by_name = {f"{n.host}:{n.port}": n for n in redis_cluster.master_nodes()}
    return {stream: by_name[client.get_node_from_key(cluster_key(stream)).name] for stream in streams}


def test_a_blocking_read_woken_on_one_shard_leaves_a_master_that_pauses_writes_alive(
    redis_cluster_url, redis_cluster
):
    broker = RedisBroker("default", {"URI": redis_cluster_url, "cluster": True})
    category = f"bank::account{uuid.uuid4().hex[:6]}"
    candidates = [f"{category}#{n}" for n in range(16)]
    for stream in candidates:
        broker.ensure_group(stream, "g")
    masters = _masters_of(broker, redis_cluster, candidates)
    paused_stream = candidates[0]
    paused = masters[paused_stream]
    woken_stream = next(s for s in candidates if masters[s] is not paused)
    fan_out = broker._fan_out
    assert fan_out is not None
    blocking_read = fan_out.read

    def read_while_paused(work, read_one):  # the failover starts as the consumer blocks
        _redis_call(paused.host, paused.port, "CLIENT", "PAUSE", "1500", "WRITE")
        return blocking_read(work, read_one)

    fan_out.read = read_while_paused  # type: ignore[method-assign]
    publisher = threading.Timer(0.3, lambda: broker.publish(woken_stream, {"n": 1}))
    publisher.start()
    try:
        got = broker.read("g", "c", [paused_stream, woken_stream], count=10, block_ms=3000)
        publisher.join()
        fan_out.read = blocking_read  # type: ignore[method-assign]
        assert paused.running and "PONG" in _redis_call(paused.host, paused.port, "PING"), (
            "the master that paused writes died"
        )
        got += broker.read("g", "c", [paused_stream, woken_stream], count=10, block_ms=200)
        assert [(e.stream, e.payload) for e in got] == [(woken_stream, {"n": 1})]
        # the connections answer what they are asked (no reply of an earlier read left behind)
        broker.publish(paused_stream, {"n": 2})
        later = broker.read("g", "c", [paused_stream, woken_stream], count=10, block_ms=1000)
        assert [(e.stream, e.payload) for e in later] == [(paused_stream, {"n": 2})]
        assert broker.pending(paused_stream, "g") == 1  # delivered once, to this read
    finally:
        publisher.cancel()
        broker.close()
        if not paused.running:  # (before the fix) bring the crashed master back as a replica
            paused.start()
            time.sleep(1)
            redis_cluster.wait_ok(60)
