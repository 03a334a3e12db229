"""Doorbells: a ring after the waiter looked for work is never lost."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from archipel.utils.doorbell import OUTBOX, Doorbell, bell


def test_a_ring_between_the_look_and_the_wait_is_not_lost():
    doorbell = Doorbell()
    seen = doorbell.generation  # the waiter reads the generation, then looks for work
    doorbell.ring()  # work arrives before it starts waiting
    assert doorbell.wait(seen, timeout=30.0) is True  # returns at once: no 30 s sleep


def test_a_wait_without_a_ring_times_out_and_says_so():
    doorbell = Doorbell()
    assert doorbell.wait(doorbell.generation, timeout=0.01) is False


def test_a_ring_wakes_every_waiter():
    doorbell = Doorbell()
    seen = doorbell.generation
    woken: list[bool] = []
    waiters = [
        threading.Thread(target=lambda: woken.append(doorbell.wait(seen, timeout=30.0)))
        for _ in range(3)
    ]
    for waiter in waiters:
        waiter.start()
    doorbell.ring()
    for waiter in waiters:
        waiter.join(30.0)
    assert woken == [True, True, True]


def test_committing_outbox_rows_on_the_memory_database_rings_the_outbox_bell():
    from archipel.adapters.memory.database import MemoryDatabase

    database = MemoryDatabase()
    seen = bell(OUTBOX).generation
    tx = database.begin()
    tx.add_outbox([{"message_id": "m1", "stream": "s-1", "message": {}}])
    tx.commit()
    assert bell(OUTBOX).generation != seen


def test_a_ring_for_other_keys_does_not_wake_a_keyed_waiter():
    doorbell = Doorbell()
    seen = doorbell.generation
    doorbell.ring(["stream-b"])  # work elsewhere
    assert doorbell.rung(seen, ["stream-a"]) is False
    assert doorbell.wait(seen, timeout=0.01, keys=["stream-a"]) is False
    assert doorbell.wait(seen, timeout=30.0, keys=["stream-a", "stream-b"]) is True  # returns at once
    assert doorbell.wait(seen, timeout=30.0) is True  # a waiter on anything: any ring


def test_a_broad_ring_wakes_every_keyed_waiter():
    doorbell = Doorbell()
    seen = doorbell.generation
    doorbell.ring()
    assert doorbell.rung(seen, ["any-key"]) is True
    assert doorbell.wait(seen, timeout=30.0, keys=["any-key"]) is True


def test_a_keyed_ring_wakes_a_thread_waiting_on_its_key_and_not_the_others():
    doorbell = Doorbell()
    seen = doorbell.generation
    woken: dict[str, bool] = {}

    def wait(key: str, timeout: float) -> None:
        woken[key] = doorbell.wait(seen, timeout=timeout, keys=[key])

    mine = threading.Thread(target=wait, args=("mine", 30.0))
    other = threading.Thread(target=wait, args=("other", 0.3))
    mine.start()
    other.start()
    doorbell.ring(["mine"])
    mine.join(30.0)
    other.join(30.0)
    assert woken == {"mine": True, "other": False}


@settings(max_examples=200, deadline=None)
@given(
    rings=st.lists(st.one_of(st.none(), st.lists(st.sampled_from("abcd"), max_size=3)), max_size=8),
    cut=st.integers(min_value=0, max_value=8),
    keys=st.lists(st.sampled_from("abcd"), min_size=1, max_size=4),
)
def test_rung_says_whether_a_ring_after_the_look_concerned_the_keys(rings, cut, keys):
    doorbell = Doorbell()
    for ring in rings[:cut]:
        doorbell.ring(ring)
    seen = doorbell.generation  # the look
    later = rings[cut:]
    for ring in later:
        doorbell.ring(ring)
    expected = any(ring is None or set(ring) & set(keys) for ring in later)
    assert doorbell.rung(seen, keys) is expected
    assert doorbell.wait(seen, 0.0, keys) is expected


def test_outbox_keys_map_shard_values_to_the_relay_shards_of_this_process():
    from archipel.utils.doorbell import outbox_keys, relay_key, relay_waiting

    assert outbox_keys([5, 6]) is None  # no relay here: a broad ring
    relay_waiting(4)
    try:
        assert outbox_keys([5, 6, 9]) == [relay_key(1), relay_key(2)]
        assert outbox_keys(["13"]) == [relay_key(1)]  # (as a payload carries them)
        assert outbox_keys(["not a number"]) is None
        relay_waiting(3)  # relays disagreeing on the count: broad
        assert outbox_keys([5]) is None
        relay_waiting(3, waiting=False)
        assert outbox_keys([5]) == [relay_key(1)]
    finally:
        relay_waiting(4, waiting=False)
    assert outbox_keys([5]) is None


def test_shards_given_back_ring_freed_alone_whatever_the_relays_count_and_beside_shard_keys():
    from archipel.utils.doorbell import FREED, outbox_keys, relay_key, relay_waiting

    assert outbox_keys([FREED]) == [FREED]  # no relay here, or relays disagreeing: still itself
    relay_waiting(4)
    relay_waiting(3)
    try:
        assert outbox_keys([FREED]) == [FREED]
        relay_waiting(3, waiting=False)
        assert outbox_keys(["5", FREED]) == sorted([relay_key(1), FREED])
    finally:
        relay_waiting(4, waiting=False)


@given(rings=st.lists(st.one_of(st.none(), st.lists(st.sampled_from(["freed", "0", "1"]), max_size=2)), max_size=8))
def test_last_ring_of_a_key_counts_the_rings_naming_it_and_never_broad_ones(rings):
    doorbell = Doorbell()
    last = 0
    for ring in rings:
        doorbell.ring(ring)
        if ring is not None and "freed" in ring:
            last = doorbell.generation
    assert doorbell.last_ring("freed") == last
