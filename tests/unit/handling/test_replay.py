"""The rebuild's read-ahead and write-behind threads: order kept, errors raised, nothing left running."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel.handling.read_ahead import prefetched
from archipel.handling.write_behind import WriteBehind


@given(st.lists(st.integers(), max_size=30))
def test_prefetched_yields_every_item_in_order(items: list[int]) -> None:
    assert list(prefetched(iter(items))) == items


def test_an_error_of_the_producer_reaches_the_consumer_after_the_items_before_it() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("the database went away")

    seen = []
    with pytest.raises(RuntimeError, match="went away"):
        for item in prefetched(produce()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_stopping_early_stops_the_producer() -> None:
    produced = []

    def produce() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    before = threading.active_count()
    items = prefetched(produce())
    assert next(items) == 0
    items.close()  # e.g. a projector raised
    assert threading.active_count() == before
    assert len(produced) < 1000


def test_write_behind_runs_writes_one_at_a_time_in_order() -> None:
    done: list[int] = []
    running = threading.Event()

    def write(n: int) -> None:
        assert not running.is_set()  # never two at once
        running.set()
        done.append(n)
        running.clear()

    writer = WriteBehind()
    for n in range(20):
        writer.submit(lambda n=n: write(n))
    writer.close()
    assert done == list(range(20))


def test_a_failed_write_is_raised_by_the_next_settle_and_close_can_stay_quiet() -> None:
    def fail() -> None:
        raise ValueError("duplicate row")

    writer = WriteBehind()
    writer.submit(fail)
    with pytest.raises(ValueError, match="duplicate row"):
        writer.settle()
    writer.submit(fail)
    writer.close(quiet=True)  # another error is being reported
    writer.submit(fail)
    with pytest.raises(ValueError, match="duplicate row"):
        writer.close()
