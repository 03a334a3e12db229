"""One conformance suite for every broker: inline, Redis Streams, the database broker.

The contract is stated in :mod:`archipel.port.broker`. Each test runs once
per adapter (``broker`` fixture, parametrized in ``conftest.py``).
"""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal

import pytest

from archipel.errors import BrokerUnavailable, ValidationError
from archipel.port.broker import BaseBroker, Broker, BrokerAdmin, GroupReader, Publisher


def _stream() -> str:
    return f"test::thing-{uuid.uuid4().hex[:8]}"


def test_every_adapter_plays_every_role_of_the_split_port(broker):
    # the engine depends on one role each (relay: Publisher, consumers: GroupReader,
    # status: BrokerAdmin); an adapter missing a method of any role fails here
    for role in (Publisher, GroupReader, BrokerAdmin, Broker, BaseBroker):
        assert isinstance(broker, role), role.__name__


def test_publish_returns_increasing_ids(broker):
    stream = _stream()
    broker.ensure_group(stream, "g")
    ids = [broker.publish(stream, {"n": n}) for n in range(3)]
    ids += broker.publish_many([(stream, {"n": n}) for n in range(3, 6)])
    read = broker.read("g", "c", [stream], count=100)
    assert [e.id for e in read] == ids
    assert [e.payload["n"] for e in read] == list(range(6))
    assert all(e.stream == stream for e in read)


def test_payloads_round_trip(broker):
    stream = _stream()
    payload = {
        "metadata": {"id": "x", "headers": {"k": "v"}, "priority": -100, "flag": True, "none": None},
        "data": {"text": "héllo ✓", "n": 12, "f": 1.5, "items": [1, {"a": [2, 3]}]},
    }
    broker.publish(stream, payload)
    (entry,) = broker.read("g", "c", [stream])
    assert entry.payload == payload


@pytest.mark.parametrize(
    "value, says",
    [
        (2**64, "outside 64 bits"),
        (-(2**63) - 1, "outside 64 bits"),
        (float("nan"), "JSON cannot carry"),
        (float("-inf"), "JSON cannot carry"),
        ("lone \ud800", "lone surrogate"),
        ({1: "x"}, "keys are text"),
        (b"bytes", "not a JSON value"),
        ([1, {"deep": Decimal("1.10")}], "not a JSON value"),
    ],
)
def test_a_payload_no_broker_carries_faithfully_is_refused_and_nothing_is_sent(broker, value, says):
    stream = _stream()
    with pytest.raises(ValidationError) as raised:
        broker.publish(stream, {"data": {"v": value}})
    assert says in str(raised.value) and "payload.data.v" in str(raised.value)
    broker.publish(stream, {"data": {"v": 2**63 - 1, "t": "ok"}})  # the limits themselves pass
    (entry,) = broker.read("g", "c", [stream], count=10)
    assert entry.payload == {"data": {"v": 2**63 - 1, "t": "ok"}}


def test_publish_many_keeps_order_per_stream(broker):
    a, b = _stream(), _stream()
    broker.publish_many([(a, {"n": 1}), (b, {"n": 1}), (a, {"n": 2}), (b, {"n": 2}), (a, {"n": 3})])
    got = broker.read("g", "c", [a, b], count=10)
    assert [e.payload["n"] for e in got if e.stream == a] == [1, 2, 3]
    assert [e.payload["n"] for e in got if e.stream == b] == [1, 2]


def test_each_group_reads_every_entry_once(broker):
    stream = _stream()
    broker.publish_many([(stream, {"n": n}) for n in range(5)])
    first = broker.read("g1", "c1", [stream], count=3)
    rest = broker.read("g1", "c2", [stream], count=10)
    assert [e.payload["n"] for e in first + rest] == list(range(5))
    assert broker.read("g1", "c1", [stream]) == []
    other = broker.read("g2", "c1", [stream], count=10)
    assert [e.payload["n"] for e in other] == list(range(5))


def test_a_group_starts_at_the_beginning_of_the_stream(broker):
    stream = _stream()
    broker.publish(stream, {"n": "before"})
    broker.ensure_group(stream, "late")
    broker.publish(stream, {"n": "after"})
    assert [e.payload["n"] for e in broker.read("late", "c", [stream])] == ["before", "after"]


def test_count_applies_per_read(broker):
    stream = _stream()
    broker.publish_many([(stream, {"n": n}) for n in range(10)])
    assert len(broker.read("g", "c", [stream], count=4)) == 4
    assert len(broker.read("g", "c", [stream], count=4)) == 4
    assert len(broker.read("g", "c", [stream], count=4)) == 2


def test_entries_stay_pending_until_acked(broker):
    stream = _stream()
    broker.publish_many([(stream, {"n": n}) for n in range(4)])
    got = broker.read("g", "c", [stream], count=10)
    assert broker.pending(stream, "g") == 4
    assert broker.ack("g", {stream: [got[0].id, got[1].id]}) == 2
    assert broker.pending(stream, "g") == 2
    assert broker.ack("g", {stream: [got[0].id]}) == 0  # already acked
    assert broker.ack("g", {stream: [e.id for e in got[2:]]}) == 2
    assert broker.pending(stream, "g") == 0


def test_ack_across_streams(broker):
    a, b = _stream(), _stream()
    broker.publish_many([(a, {"n": 1}), (b, {"n": 2})])
    got = broker.read("g", "c", [a, b])
    by_stream: dict[str, list[str]] = {}
    for entry in got:
        by_stream.setdefault(entry.stream, []).append(entry.id)
    assert broker.ack("g", by_stream) == 2
    assert broker.pending(a, "g") == broker.pending(b, "g") == 0


def test_lag_counts_unread_entries(broker):
    stream = _stream()
    broker.ensure_group(stream, "g")
    broker.publish_many([(stream, {"n": n}) for n in range(5)])
    assert broker.lag(stream, "g") == 5
    broker.read("g", "c", [stream], count=2)
    assert broker.lag(stream, "g") == 3


def test_blocking_read_times_out_empty(broker):
    stream = _stream()
    broker.ensure_group(stream, "g")
    started = time.monotonic()
    assert broker.read("g", "c", [stream], block_ms=200) == []
    assert time.monotonic() - started >= 0.15


def test_blocking_read_wakes_up_on_publish(broker):
    stream = _stream()
    broker.ensure_group(stream, "g")
    timer = threading.Timer(0.2, lambda: broker.publish(stream, {"n": 1}))
    timer.start()
    # blocks for up to a minute: the read returns with the entry published meanwhile
    # (how soon is a benchmark figure: bench/engine.py's latency)
    got = broker.read("g", "c", [stream], block_ms=60000)
    timer.join()
    assert [e.payload["n"] for e in got] == [1]


def test_claim_stale_takes_over_a_dead_consumers_entries(broker):
    stream = _stream()
    broker.publish_many([(stream, {"n": n}) for n in range(3)])
    read_by_dead = broker.read("g", "dead", [stream], count=10)
    assert broker.claim_stale(stream, "g", "alive", min_idle_ms=60_000) == []
    claimed = broker.claim_stale(stream, "g", "alive", min_idle_ms=0)
    assert [e.id for e in claimed] == [e.id for e in read_by_dead]
    assert [e.payload["n"] for e in claimed] == [0, 1, 2]
    assert broker.pending(stream, "g") == 3  # still pending, now for "alive"
    broker.ack("g", {stream: [e.id for e in claimed]})
    assert broker.claim_stale(stream, "g", "alive", min_idle_ms=0) == []


def test_delivery_counts_count_reads_and_takeovers(broker):
    stream = _stream()
    broker.publish_many([(stream, {"n": n}) for n in range(3)])
    got = broker.read("g", "first", [stream], count=10)
    ids = [e.id for e in got]
    assert broker.delivery_counts(stream, "g", ids) == dict.fromkeys(ids, 1)
    broker.ack("g", {stream: [ids[1]]})
    broker.claim_stale(stream, "g", "second", min_idle_ms=0)
    broker.claim_stale(stream, "g", "third", min_idle_ms=0)
    # acked entries are not pending any more: left out
    assert broker.delivery_counts(stream, "g", ids) == {ids[0]: 3, ids[2]: 3}
    assert broker.delivery_counts(stream, "g", [ids[2]]) == {ids[2]: 3}
    assert broker.delivery_counts(stream, "other", ids) == {}
    assert broker.delivery_counts(stream, "g", []) == {}


def test_claim_stale_skips_acked_entries(broker):
    stream = _stream()
    broker.publish_many([(stream, {"n": n}) for n in range(3)])
    got = broker.read("g", "dead", [stream], count=10)
    broker.ack("g", {stream: [got[1].id]})
    claimed = broker.claim_stale(stream, "g", "alive", min_idle_ms=0)
    assert [e.payload["n"] for e in claimed] == [0, 2]


def _length(broker, stream: str) -> int:
    return int(broker.length(stream))


def test_trim_never_drops_unread_or_pending_entries(broker):
    stream = _stream()
    broker.ensure_group(stream, "fast")
    broker.ensure_group(stream, "slow")
    broker.publish_many([(stream, {"n": n}) for n in range(10)])
    fast = broker.read("fast", "c", [stream], count=10)
    broker.ack("fast", {stream: [e.id for e in fast]})
    assert broker.trim(stream) == 0  # "slow" has read nothing
    slow = broker.read("slow", "c", [stream], count=6)
    broker.ack("slow", {stream: [e.id for e in slow[:2]] + [slow[4].id]})
    # entries 0 and 1 are acked by both; entry 2 is still pending for "slow"
    assert broker.trim(stream) == 2
    assert _length(broker, stream) == 8
    rest = broker.claim_stale(stream, "slow", "c2", 0)
    assert [e.payload["n"] for e in rest] == [2, 3, 5]
    assert [e.payload["n"] for e in broker.read("slow", "c", [stream], count=10)] == [6, 7, 8, 9]


def test_trim_removes_what_every_group_acked(broker):
    stream = _stream()
    broker.publish_many([(stream, {"n": n}) for n in range(5)])
    got = broker.read("g", "c", [stream], count=10)
    broker.ack("g", {stream: [e.id for e in got]})
    assert broker.trim(stream, retain=2) == 3
    assert _length(broker, stream) == 2
    assert broker.trim(stream) == 2
    assert _length(broker, stream) == 0
    broker.publish(stream, {"n": 5})
    assert [e.payload["n"] for e in broker.read("g", "c", [stream])] == [5]


def test_trim_without_groups_keeps_everything(broker):
    stream = _stream()
    broker.publish_many([(stream, {"n": n}) for n in range(3)])
    assert broker.trim(stream) == 0
    assert _length(broker, stream) == 3


def test_streams_and_truncate(broker):
    a, b = _stream(), _stream()
    broker.publish(a, {"n": 1})
    broker.publish(b, {"n": 1})
    assert {a, b} <= set(broker.streams())
    broker.truncate()
    assert a not in broker.streams()
    assert broker.read("g", "c", [a]) == []


def test_publish_rejects_non_dict_payloads(broker):
    with pytest.raises(TypeError):
        broker.publish(_stream(), ["not", "a", "dict"])  # type: ignore[arg-type]


def test_concurrent_consumers_share_a_group_without_duplicates(broker):
    stream = _stream()
    broker.ensure_group(stream, "g")
    broker.publish_many([(stream, {"n": n}) for n in range(200)])
    seen: list[int] = []
    lock = threading.Lock()

    def consume(name: str) -> None:
        while True:
            got = broker.read("g", name, [stream], count=7)
            if not got:
                return
            with lock:
                seen.extend(e.payload["n"] for e in got)
            broker.ack("g", {stream: [e.id for e in got]})

    threads = [threading.Thread(target=consume, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(200))


def test_unreachable_redis_raises_broker_unavailable_without_the_password():
    pytest.importorskip("redis")
    from archipel.adapters.redis.broker import RedisBroker

    broker = RedisBroker("default", {"URI": "redis://user:s3cret@127.0.0.1:1/0", "retries": 0, "connect_timeout": 0.2})
    with pytest.raises(BrokerUnavailable) as caught:
        broker.publish("s", {"n": 1})
    assert "s3cret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)
    broker.close()


def test_own_pending_lists_one_consumers_unacked_entries_without_counting_a_delivery(broker):
    first, second = _stream(), _stream()
    broker.publish_many([(first, {"n": n}) for n in range(4)] + [(second, {"n": 10})])
    mine = broker.read("g", "me", [first], count=3)
    broker.read("g", "other", [first, second], count=10)  # the 4th of first, and second's
    broker.ack("g", {first: [mine[1].id]})
    got = broker.own_pending("g", "me", [first, second])
    assert [(e.stream, e.id, e.payload["n"]) for e in got] == [
        (first, mine[0].id, 0),
        (first, mine[2].id, 2),
    ]
    assert broker.delivery_counts(first, "g", [mine[0].id, mine[2].id]) == {mine[0].id: 1, mine[2].id: 1}
    assert broker.own_pending("g", "me", [first], count=1) == got[:1]
    assert broker.own_pending("g", "nobody", [first, second]) == []
    assert broker.own_pending("never-created", "me", [first]) == []


def _partition_streams() -> tuple[str, str, str]:
    category = f"test::part{uuid.uuid4().hex[:6]}"
    return f"{category}#0", f"{category}:bulk#0", f"{category}#5"


def test_partition_stream_names_come_back_as_given(broker):
    # the engine's names (<category>#<n>, <category>:bulk#<n>): on Redis Cluster they are
    # stored under hash-tagged keys, which must never leak into what readers see
    names = _partition_streams()
    broker.publish_many([(name, {"n": n}) for n, name in enumerate(names)])
    got = broker.read("g", "c", list(names), count=10)
    assert sorted((e.stream, e.payload["n"]) for e in got) == sorted((name, n) for n, name in enumerate(names))
    assert set(names) <= set(broker.streams())
    assert broker.pending(names[1], "g") == 1
    assert broker.ack("g", {e.stream: [e.id] for e in got}) == 3
    assert [broker.lag(name, "g") for name in names] == [0, 0, 0]
    broker.truncate()
    assert not set(names) & set(broker.streams())


def test_blocking_read_of_many_streams_wakes_up_on_a_publish_to_any(broker):
    # a consumer blocks on every partition it owns: on a cluster they live on different shards
    names = [f"test::wake{uuid.uuid4().hex[:6]}#{n}" for n in range(8)]
    for name in names:
        broker.ensure_group(name, "g")
    for target in (names[3], names[6]):
        timer = threading.Timer(0.2, lambda target=target: broker.publish(target, {"to": target}))
        timer.start()
        got = broker.read("g", "c", names, block_ms=60000)
        timer.join()
        assert [(e.stream, e.payload["to"]) for e in got] == [(target, target)]
    assert broker.read("g", "c", names, block_ms=100) == []
