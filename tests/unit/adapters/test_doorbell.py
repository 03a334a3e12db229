"""Doorbells: a ring after the waiter looked for work is never lost."""

from __future__ import annotations

import threading

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
