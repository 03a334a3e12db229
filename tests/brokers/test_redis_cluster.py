"""The Redis broker on Redis Cluster: key names, spread over the shards, settings, outages, failover.

The whole broker contract runs on the cluster too (``tests/brokers``,
``redis-cluster`` parameter); these tests cover what only a cluster has.
"""

from __future__ import annotations

import os
import signal
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

redis = pytest.importorskip("redis")

from archipel.adapters.redis.broker import RedisBroker  # noqa: E402
from archipel.adapters.redis.cluster import cluster_key, stream_of  # noqa: E402
from archipel.errors import BrokerError, BrokerUnavailable, ConfigurationError  # noqa: E402


def _cluster_broker(url: str) -> RedisBroker:
    return RedisBroker("default", {"URI": url, "cluster": True})


# -- key names (no server) ------------------------------------------------------------------


def test_both_lanes_of_a_partition_share_one_hash_tag():
    assert cluster_key("identity::customer#2") == "{identity::customer#2}"
    assert cluster_key("identity::customer:bulk#2") == "{identity::customer#2}:bulk"
    assert cluster_key("identity::customer:command#0") == "{identity::customer:command#0}"
    assert cluster_key("book_supply") == "book_supply"  # raw streams keep their name
    slot = redis.crc.key_slot
    assert slot(b"{identity::customer#2}") == slot(b"{identity::customer#2}:bulk")


@given(st.text(min_size=1))
def test_key_names_map_back_to_stream_names(stream):
    try:
        key = cluster_key(stream)
    except ValueError:
        return  # refused: it has the form of a tagged key itself
    assert stream_of(key) == stream


@pytest.mark.parametrize("stream", ["{orders#1}", "{orders#1}:bulk"])
def test_stream_names_that_look_like_tagged_keys_are_refused(stream):
    with pytest.raises(ValueError, match="rename the stream"):
        cluster_key(stream)


# -- settings ----------------------------------------------------------------------------------


def test_unknown_settings_are_a_configuration_error_naming_them():
    with pytest.raises(ConfigurationError, match="clustr") as caught:
        RedisBroker("default", {"URI": "redis://127.0.0.1:1/0", "clustr": True})
    assert "cluster" in str(caught.value)  # the allowed ones are listed


def test_cluster_must_be_a_boolean():
    with pytest.raises(ConfigurationError, match="cluster must be true or false"):
        RedisBroker("default", {"URI": "redis://127.0.0.1:1/0", "cluster": "yes"})


def test_a_cluster_url_naming_another_database_is_refused():
    with pytest.raises(ConfigurationError, match="only database 0"):
        RedisBroker("default", {"URI": "redis://127.0.0.1:1/3", "cluster": True})


def test_an_unreachable_cluster_is_an_outage_not_a_configuration_error():
    # made lazily: a cluster that is down when the domain starts is ridden out by the engine
    broker = RedisBroker(
        "default",
        {"URI": "redis://user:s3cret@127.0.0.1:1/0", "cluster": True, "retries": 0, "connect_timeout": 0.2},
    )
    with pytest.raises(BrokerUnavailable) as caught:
        broker.publish("s", {"n": 1})
    assert "s3cret" not in str(caught.value)
    broker.close()


# -- on a real cluster ------------------------------------------------------------------------


def test_partitions_spread_over_every_master_and_lanes_stay_together(redis_cluster_url, redis_cluster):
    broker = _cluster_broker(redis_cluster_url)
    category = f"shop::order{uuid.uuid4().hex[:6]}"
    broker.publish_many(
        [(f"{category}#{n}", {"n": n}) for n in range(16)]
        + [(f"{category}:bulk#{n}", {"n": n}) for n in range(16)]
    )
    client = redis.RedisCluster.from_url(redis_cluster_url)
    try:
        keys = sorted(k.decode() for k in client.scan_iter(_type="stream"))
        assert keys == sorted(
            [f"{{{category}#{n}}}" for n in range(16)] + [f"{{{category}#{n}}}:bulk" for n in range(16)]
        )
        owners = {n: client.get_node_from_key(f"{{{category}#{n}}}").name for n in range(16)}
        for n in range(16):
            assert client.keyslot(f"{{{category}#{n}}}") == client.keyslot(f"{{{category}#{n}}}:bulk")
        masters = {f"{node.host}:{node.port}" for node in redis_cluster.master_nodes()}
        assert set(owners.values()) == masters  # every shard holds some partitions
    finally:
        client.close()
        broker.close()


def test_a_stream_name_of_the_tagged_form_is_a_broker_error(redis_cluster_url):
    broker = _cluster_broker(redis_cluster_url)
    with pytest.raises(BrokerError, match="rename the stream"):
        broker.publish("{orders#1}", {"n": 1})
    broker.close()


def test_entries_and_pending_entries_survive_a_failover(redis_cluster_url, redis_cluster):
    broker = _cluster_broker(redis_cluster_url)
    category = f"bank::account{uuid.uuid4().hex[:6]}"
    streams = [f"{category}#{n}" for n in range(6)]
    broker.publish_many([(stream, {"n": n}) for stream in streams for n in range(3)])
    first = broker.read("g", "c1", streams, count=2)  # two of each stream pending for c1
    assert len(first) == 12
    client = redis.RedisCluster.from_url(redis_cluster_url)
    owner = client.get_node_from_key(cluster_key(streams[0]))
    client.close()
    old = next(n for n in redis_cluster.master_nodes() if f"{n.host}:{n.port}" == owner.name)
    redis_cluster.failover(old)  # its replica takes over; the old master follows it

    broker.publish_many([(stream, {"n": 3}) for stream in streams])  # writes follow the new master
    rest = broker.read("g", "c2", streams, count=10)
    assert sorted((e.stream, e.payload["n"]) for e in rest) == sorted(
        (stream, n) for stream in streams for n in (2, 3)
    )
    taken = broker.claim_stale(streams[0], "g", "c2", min_idle_ms=0)
    # c1's pending entries (0, 1) moved with the shard, next to c2's (2, 3)
    assert [e.payload["n"] for e in taken] == [0, 1, 2, 3]
    done: dict[str, list[str]] = {}
    for entry in first + rest:
        if entry.stream != streams[0]:
            done.setdefault(entry.stream, []).append(entry.id)
    assert broker.ack("g", done) == 20
    assert broker.pending(streams[0], "g") == 4
    broker.close()


# -- replicated publishes (replica_acks) --------------------------------------------------------


def test_replica_acks_must_be_a_whole_number():
    with pytest.raises(ConfigurationError, match="replica_acks must be a whole number"):
        RedisBroker("default", {"URI": "redis://127.0.0.1:1/0", "replica_acks": "1"})


def test_with_replica_acks_a_publish_returns_once_the_replicas_have_the_entries(
    redis_cluster_url, redis_cluster
):
    broker = RedisBroker("default", {"URI": redis_cluster_url, "cluster": True, "replica_acks": 1})
    category = f"shop::order{uuid.uuid4().hex[:6]}"
    streams = [f"{category}#{n}" for n in range(12)]
    ids = broker.publish_many([(stream, {"n": n}) for stream in streams for n in range(3)])
    assert len(ids) == 36
    client = redis.RedisCluster.from_url(redis_cluster_url)
    try:
        for stream in streams:
            owner = client.get_node_from_key(cluster_key(stream))
            master = next(n for n in redis_cluster.nodes if f"{n.host}:{n.port}" == owner.name)
            replica = redis_cluster.replica_of(master)
            on_replica = redis.Redis(host=replica.host, port=replica.port, single_connection_client=True)
            on_replica.execute_command("READONLY")
            # no waiting: the publish returned only once the replica had them
            assert on_replica.xlen(cluster_key(stream)) == 3
            on_replica.close()
    finally:
        client.close()
    got = broker.read("g", "c", streams, count=10)
    assert sorted(e.id for e in got) == sorted(ids)
    broker.close()


def test_with_more_replica_acks_than_replicas_a_publish_is_an_outage(redis_cluster_url):
    broker = RedisBroker(
        "default",
        {"URI": redis_cluster_url, "cluster": True, "replica_acks": 2, "replica_ack_timeout_ms": 50},
    )
    with pytest.raises(BrokerUnavailable, match="only 1 of 2 replicas"):
        broker.publish_many([(f"x#{n}", {"n": n}) for n in range(4)])
    broker.close()


def test_replica_acks_on_a_standalone_redis_without_replicas_is_an_outage(redis_flushed_url):
    broker = RedisBroker("default", {"URI": redis_flushed_url, "replica_acks": 1, "replica_ack_timeout_ms": 50})
    with pytest.raises(BrokerUnavailable, match="only 0 of 1 replicas"):
        broker.publish("s", {"n": 1})
    broker.close()


def test_with_replica_acks_a_publish_a_frozen_replica_has_not_got_is_an_outage(redis_cluster_url, redis_cluster):
    broker = RedisBroker(
        "default",
        {"URI": redis_cluster_url, "cluster": True, "replica_acks": 1, "replica_ack_timeout_ms": 100},
    )
    stream = f"shop::order{uuid.uuid4().hex[:6]}#0"
    broker.publish(stream, {"n": 0})
    client = redis.RedisCluster.from_url(redis_cluster_url)
    owner = client.get_node_from_key(cluster_key(stream)).name
    client.close()
    master = next(n for n in redis_cluster.nodes if f"{n.host}:{n.port}" == owner)
    replica = redis_cluster.replica_of(master)
    os.kill(replica.pid, signal.SIGSTOP)  # its master's writes stop reaching it
    try:
        with pytest.raises(BrokerUnavailable, match="only 0 of 1 replicas"):
            broker.publish(stream, {"n": 1})  # the relay would keep the outbox row pending
    finally:
        os.kill(replica.pid, signal.SIGCONT)
    broker.publish(stream, {"n": 2})  # caught up: publishes go through again
    assert [e.payload["n"] for e in broker.read("g", "c", [stream])] == [0, 1, 2]
    broker.close()
