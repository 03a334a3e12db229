"""archipel's connection pool: limits, waiting, reuse of clean connections only."""

from __future__ import annotations

import threading
import time

import pytest

from archipel.adapters.sql.pool import ConnectionPool
from archipel.errors import DatabaseError


class FakeConnection:
    def __init__(self) -> None:
        self.clean = True
        self.alive = True


class FakeFairy:
    made = 0

    def __init__(self) -> None:
        FakeFairy.made += 1
        self.driver_connection = FakeConnection()
        self.info: dict = {}
        self.closed = False
        self.invalidated = False

    def close(self) -> None:
        self.closed = True

    def invalidate(self) -> None:
        self.invalidated = True


def pool(size=2, overflow=1, timeout=0.2, recycle=None) -> ConnectionPool:
    return ConnectionPool(
        FakeFairy,
        size=size,
        overflow=overflow,
        timeout=timeout,
        recycle=recycle,
        alive=lambda c: c.alive,
        reusable=lambda c: c.clean,
        label="test",
    )


def test_connections_are_reused_most_recent_first():
    p = pool()
    a, b = p.get(), p.get()
    p.put(a)
    p.put(b)
    assert p.get() is b
    assert p.get() is a


def test_at_most_size_plus_overflow_are_lent_and_borrowers_wait():
    p = pool(size=1, overflow=1, timeout=0.15)
    a, b = p.get(), p.get()
    started = time.monotonic()
    with pytest.raises(DatabaseError, match="stayed in use"):
        p.get()
    assert time.monotonic() - started >= 0.15
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(p.get()))
    waiter.start()
    time.sleep(0.05)
    p.put(a)
    waiter.join(30)
    assert not waiter.is_alive() and got == [a]  # the waiter got the connection given back
    p.put(b)
    p.put(got[0])
    assert p.idle == 1  # only ``size`` are kept idle; the other was closed
    assert b.fairy.closed or a.fairy.closed


def test_dirty_dead_and_old_connections_are_not_lent_again():
    p = pool(recycle=0.05)
    a = p.get()
    a.driver_connection.clean = False  # came back inside a transaction
    p.put(a)
    assert a.fairy.closed and p.idle == 0
    b = p.get()
    p.put(b)
    b.driver_connection.alive = False
    c = p.get()
    assert c is not b and b.fairy.closed
    p.put(c)
    time.sleep(0.06)
    d = p.get()
    assert d is not c and c.fairy.closed


def test_discard_closes_and_frees_the_slot():
    p = pool(size=1, overflow=0, timeout=0.1)
    a = p.get()
    p.discard(a)
    assert a.fairy.invalidated and a.fairy.closed
    b = p.get()
    assert b is not a


def test_keep_idle_keeps_a_peak_of_connections_open_up_to_what_may_be_lent():
    p = pool(size=1, overflow=4)
    lent = [p.get() for _ in range(3)]
    for fairy in lent:
        p.put(fairy)
    assert p.idle == 1 and sum(f.fairy.closed for f in lent) == 2  # beyond pool_size: closed
    p.keep_idle(3)  # an engine worker whose threads borrow three at once
    lent = [p.get() for _ in range(3)]
    made = FakeFairy.made
    for fairy in lent:
        p.put(fairy)
    assert p.idle == 3 and not any(f.fairy.closed for f in lent)
    again = [p.get() for _ in range(3)]
    assert FakeFairy.made == made  # the peak is served by the kept ones
    for fairy in again:
        p.put(fairy)
    p.keep_idle(50)  # lends no more than size + overflow for it
    held = [p.get() for _ in range(5)]
    with pytest.raises(DatabaseError):
        p.get()
    for fairy in held:
        p.put(fairy)
    assert p.idle == 5


def test_a_borrower_waiting_gets_a_new_connection_when_a_lent_one_is_discarded():
    p = pool(size=1, overflow=0, timeout=30)
    a = p.get()
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(p.get()))
    waiter.start()
    time.sleep(0.05)
    p.discard(a)  # broken: its slot opens a new connection for the waiter
    waiter.join(30)
    assert not waiter.is_alive() and got and got[0] is not a and not got[0].fairy.closed


def test_threads_borrowing_at_once_never_open_more_than_size_plus_overflow():
    """Eight threads borrow, give back, discard and find dead ones; the limit always holds."""
    open_now = {"count": 0, "most": 0}
    lock = threading.Lock()

    class Counted(FakeFairy):
        def __init__(self) -> None:
            super().__init__()
            with lock:
                open_now["count"] += 1
                open_now["most"] = max(open_now["most"], open_now["count"])

        def close(self) -> None:
            if not self.closed:
                with lock:
                    open_now["count"] -= 1
            super().close()

    p = ConnectionPool(
        Counted, size=2, overflow=1, timeout=30, recycle=None,
        alive=lambda c: c.alive, reusable=lambda c: c.clean, label="test",
    )
    failures: list[BaseException] = []

    def borrow(seed: int) -> None:
        try:
            for i in range(400):
                lease = p.get(check=i % 2 == 0)
                if (i + seed) % 17 == 0:
                    p.discard(lease)
                    continue
                if (i + seed) % 13 == 0:
                    lease.driver_connection.clean = False  # given back inside a transaction
                elif (i + seed) % 11 == 0:
                    lease.driver_connection.alive = False  # the server hung up while idle
                if i % 5 == 0:
                    time.sleep(0)
                p.put(lease)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=borrow, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures and not any(t.is_alive() for t in threads)
    assert open_now["most"] <= 3
    assert open_now["count"] == p.idle <= 2  # every connection given back is idle or closed
    held = [p.get(check=False) for _ in range(3)]  # all three may still be lent
    assert len({id(h) for h in held}) == 3


def test_open_idle_opens_connections_ahead_up_to_what_is_kept_and_may_be_lent():
    p = pool(size=1, overflow=4)
    made = FakeFairy.made
    assert p.open_idle(3) == 1 and p.idle == 1  # no more than pool_size stay idle
    p.keep_idle(3)  # an engine worker whose threads borrow three at once
    assert p.open_idle(3) == 2 and p.idle == 3 and FakeFairy.made == made + 3
    assert p.open_idle(3) == 0  # already there
    lent = [p.get() for _ in range(3)]
    assert FakeFairy.made == made + 3  # the first peak is served by them
    p.keep_idle(50)
    assert p.open_idle(50) == 2 and p.idle == 2  # 3 lent + 2 idle: all that may be open
    with pytest.raises(DatabaseError):
        p.get(), p.get(), p.get()
    for fairy in lent:
        p.put(fairy)
