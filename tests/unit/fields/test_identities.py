"""Generated identities: version-4 UUID text, unique across threads and forked processes;
message ids: version-7 UUID text that sorts by creation time."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archipel.fields.identity as identity
from archipel.core.message import new_message_id
from archipel.fields.identity import new_time_ordered_identity
from archipel.fields.simple import new_identity


def test_identities_are_version_4_uuid_text():
    for _ in range(600):  # more than one draw of random bytes
        text = new_identity()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_identities_drawn_by_several_threads_are_all_different():
    drawn: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(new_identity() for _ in range(3000))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for into in drawn for text in into]
    assert len(set(every)) == len(every) == 12000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_repeats_its_parents_identities():
    new_identity()  # the parent holds unused random bytes now (of both kinds)
    new_time_ordered_identity()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            made = [new_identity() for _ in range(5)] + [new_time_ordered_identity() for _ in range(5)]
            os.write(write_end, ",".join(made).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = pipe.read().split(",")
    os.waitpid(pid, 0)
    parent = [new_identity() for _ in range(5)] + [new_time_ordered_identity() for _ in range(5)]
    assert len(child) == 10
    # the random digits (a time-ordered identity's time may repeat within a millisecond)
    assert not {text[19:] for text in child} & {text[19:] for text in parent}


def test_time_ordered_identities_are_version_7_uuid_text_carrying_the_time():
    before = time.time_ns() // 1_000_000
    made = [new_time_ordered_identity() for _ in range(600)]  # more than one draw
    after = time.time_ns() // 1_000_000
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after  # Unix time in milliseconds
    assert len(set(made)) == len(made)


def test_time_ordered_identities_made_later_sort_later_as_text():
    first = new_time_ordered_identity()
    time.sleep(0.002)
    later = [new_time_ordered_identity() for _ in range(50)]
    time.sleep(0.002)
    last = new_time_ordered_identity()
    assert all(first < text < last for text in later)


def test_both_kinds_of_identity_never_repeat_their_random_digits():
    # 2 000 of each: several draws of both random pools
    drawn = [f() for _ in range(2000) for f in (new_identity, new_time_ordered_identity)]
    tails = [text[-12:] for text in drawn]  # the random digits of both layouts
    assert len(set(tails)) == len(tails)


def test_message_ids_of_commands_and_events_are_time_ordered():
    # event store indexes keyed by message id grow at their end (fewer pages per write)
    assert uuid.UUID(new_message_id()).version == 7


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the fixture only restores the clock
@given(ns=st.integers(min_value=0, max_value=2**48 * 1_000_000 - 1))
def test_time_ordered_identities_carry_the_millisecond_and_its_fraction(monkeypatch_ns, ns):
    monkeypatch_ns(ns)
    text = new_time_ordered_identity()
    parsed = uuid.UUID(text)
    assert str(parsed) == text and parsed.version == 7
    assert parsed.int >> 80 == ns // 1_000_000  # 48 bits of Unix milliseconds
    assert (parsed.int >> 64) & 0xFFF == (ns % 1_000_000) >> 8  # 12 bits of the millisecond's fraction


@pytest.fixture
def monkeypatch_ns():
    """Set the clock time-ordered identities read (restored after the test)."""
    saved = identity._time_ns, identity._clock

    def set_ns(ns: int) -> None:
        identity._time_ns = lambda: ns

    yield set_ns
    identity._time_ns, identity._clock = saved
