"""The thread switch interval a projection rebuild sets while its threads run (and gives back)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from archipel.handling.switching import REBUILD_SWITCH_INTERVAL, quick_switching


@pytest.fixture(autouse=True)
def default_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(before)


def test_the_interval_is_short_inside_and_given_back_after() -> None:
    with quick_switching():
        assert sys.getswitchinterval() == pytest.approx(REBUILD_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_the_interval_is_given_back_when_the_block_raises() -> None:
    with pytest.raises(KeyError), quick_switching():
        raise KeyError("boom")
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_a_shorter_interval_is_never_lengthened() -> None:
    sys.setswitchinterval(REBUILD_SWITCH_INTERVAL / 4)
    with quick_switching():
        assert sys.getswitchinterval() == pytest.approx(REBUILD_SWITCH_INTERVAL / 4)
    assert sys.getswitchinterval() == pytest.approx(REBUILD_SWITCH_INTERVAL / 4)


def test_overlapping_rebuilds_restore_the_interval_when_the_last_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[float] = []

    def second() -> None:
        first_in.wait()
        with quick_switching():
            second_in.set()
            first_out.wait()
            seen.append(sys.getswitchinterval())  # the first ended: still short for this one

    thread = threading.Thread(target=second)
    thread.start()
    with quick_switching():
        first_in.set()
        second_in.wait()
    first_out.set()
    thread.join()
    assert seen == [pytest.approx(REBUILD_SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_an_interval_someone_else_set_meanwhile_is_left_alone() -> None:
    with quick_switching():
        sys.setswitchinterval(0.002)
    assert sys.getswitchinterval() == pytest.approx(0.002)
