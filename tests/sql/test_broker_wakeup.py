"""The database broker's consumers on PostgreSQL: woken by pushes, never stranded by a lost one.

A read skips its first look when the last look at its streams found nothing
and no publish rang since, and the look at the end of its wait unless that
last look is ``PUSHED_FALLBACK_SECONDS`` old (an idle consumer's blocking
reads cost no round trip each); a notification that never arrives (here: a
writer that inserts entries behind the broker's back, as a process whose
``NOTIFY`` was lost would look) must still be read by the look at the end of
a blocking read that long.
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from archipel.adapters.sql.broker import DatabaseBroker
from archipel.adapters.sql.wakeup import CHANNELS, PUSHED_FALLBACK_SECONDS, signals_for
from archipel.utils.doorbell import BROKER, OUTBOX, bell

pytestmark = pytest.mark.postgres


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def broker(postgres_db_url):
    made = DatabaseBroker("default", {"database_uri": postgres_db_url})
    made.truncate()
    signals = signals_for(made.engine)
    assert signals is not None
    give_up = time.monotonic() + 30  # a guard against a hang, not a timing goal
    while not signals.listen():
        if time.monotonic() > give_up:
            pytest.fail("the listener never connected")
        time.sleep(0.01)
    yield made
    made.close()


def count_looks(broker, monkeypatch) -> list[list[str]]:
    """The streams of each look the broker takes from here on (its ``_take_pg`` calls)."""
    looks: list[list[str]] = []
    take = broker._take_pg

    def counted(group, consumer, streams, count, create):
        looks.append(list(streams))
        return take(group, consumer, streams, count, create)

    monkeypatch.setattr(broker, "_take_pg", counted)
    return looks


def publish_silently(url: str, stream: str, payload: str) -> None:
    """Store an entry as the broker does, but notify nobody (a lost notification)."""
    with psycopg.connect(libpq(url), autocommit=True) as other:
        with other.transaction():
            seq = other.execute(
                "INSERT INTO archipel_broker_streams (stream, last_seq) VALUES (%s, 1) "
                "ON CONFLICT (stream) DO UPDATE SET last_seq = archipel_broker_streams.last_seq + 1 "
                "RETURNING last_seq",
                (stream,),
            ).fetchone()
            assert seq is not None
            other.execute(
                "INSERT INTO archipel_broker_entries (stream, seq, payload) VALUES (%s, %s, %s)",
                (stream, seq[0], payload),
            )


@pytest.mark.parametrize("before", ["empty", "drained"])
def test_an_entry_whose_notification_was_lost_is_read_by_the_end_of_the_blocking_read(
    broker, postgres_db_url, before
):
    stream = f"s-{uuid.uuid4().hex[:8]}"
    broker.ensure_group(stream, "g")
    if before == "drained":  # a look that took fewer than it could: the stream was drained
        broker.publish(stream, {"n": 0})
        assert [entry.payload for entry in broker.read("g", "c", [stream], count=10)] == [{"n": 0}]
    else:  # a look that found nothing
        assert broker.read("g", "c", [stream]) == []
    publish_silently(postgres_db_url, stream, '{"n": 1}')
    # nothing rang since that look: a short read skips both its looks (the last one was
    # just now); a read that waits PUSHED_FALLBACK_SECONDS looks once more before giving up
    assert broker.read("g", "c", [stream], block_ms=50) == []
    got = broker.read("g", "c", [stream], block_ms=int(1000 * PUSHED_FALLBACK_SECONDS) + 500)
    assert [entry.payload for entry in got] == [{"n": 1}]


def test_idle_blocking_reads_cost_no_look_while_pushes_are_sure(broker, monkeypatch):
    stream = f"s-{uuid.uuid4().hex[:8]}"
    broker.ensure_group(stream, "g")
    assert broker.read("g", "c", [stream]) == []  # a look that found nothing
    looks = count_looks(broker, monkeypatch)
    for _ in range(5):  # a consumer's blocking reads while nothing is published
        assert broker.read("g", "c", [stream], block_ms=30) == []
    assert looks == []  # (a look at the end of each before: a transaction per read)
    broker.publish(stream, {"n": 1})  # rings: the next read looks at once
    assert [entry.payload for entry in broker.read("g", "c", [stream], block_ms=30)] == [{"n": 1}]
    assert looks == [[stream]]


def test_an_entry_published_in_this_process_wakes_a_read_that_skipped_its_first_look(broker):
    stream = f"s-{uuid.uuid4().hex[:8]}"
    broker.ensure_group(stream, "g")
    assert broker.read("g", "c", [stream]) == []
    broker.publish(stream, {"n": 1})  # rings the bell: the next read looks at once
    assert [entry.payload for entry in broker.read("g", "c", [stream])] == [{"n": 1}]


def test_the_listener_does_not_ring_again_for_this_engines_own_notifications(
    broker, postgres_db_url
):
    doorbell, outbox = bell(BROKER), bell(OUTBOX)
    stream = f"s-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(postgres_db_url), autocommit=True) as watcher:
        watcher.execute(f'LISTEN "{CHANNELS[BROKER]}"')
        seen = doorbell.generation
        broker.publish(stream, {"n": 1})  # rings here, then notifies the other processes
        # our notification has gone out (the watcher got it), so our listener has it too
        assert len(list(watcher.notifies(timeout=30.0, stop_after=1))) == 1
    # a later notification, of another process: our listener gets notifications in order,
    # so once this one rang, the echo of ours has been received too
    outbox_seen = outbox.generation
    with psycopg.connect(libpq(postgres_db_url), autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, '')", (CHANNELS[OUTBOX],))
    assert outbox.wait(outbox_seen, timeout=30.0)
    assert doorbell.generation == seen + 1  # rung by the publish only, not by its echo


def test_every_publish_notifies_other_processes_whether_sent_by_the_committer_or_the_notifier(
    broker, postgres_db_url
):
    # the first goes through the notifier thread (it connects); later ones are written by the
    # publishing thread itself on the notifier's connection, their replies read by the
    # notifier: none may be lost, and the connection must stay usable for the next
    stream = f"s-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(postgres_db_url), autocommit=True) as watcher:
        watcher.execute(f'LISTEN "{CHANNELS[BROKER]}"')
        for n in range(20):
            broker.publish(stream, {"n": n})
            got = list(watcher.notifies(timeout=30.0, stop_after=1))  # a guard, not a timing goal
            assert [note.channel for note in got] == [CHANNELS[BROKER]]
    broker.ensure_group(stream, "g")
    assert len(broker.read("g", "c", [stream], count=100)) == 20


def test_closing_with_a_notification_in_flight_leaves_no_failed_reset(postgres_db_url, caplog):
    # a publishing thread writes its pg_notify and leaves the reply for later; closing the
    # engine right after must read it first: a connection closed busy fails its reset, which
    # SQLAlchemy logs as an error with a traceback at every stop of a server
    made = DatabaseBroker("default", {"database_uri": postgres_db_url})
    made.truncate()
    stream = f"s-{uuid.uuid4().hex[:8]}"
    made.publish(stream, {"n": 0})  # the notifier thread connects and sends this one
    signals = signals_for(made.engine)
    assert signals is not None
    give_up = time.monotonic() + 30  # a guard against a hang, not a timing goal
    while signals._conn is None:
        if time.monotonic() > give_up:
            pytest.fail("the notifier never connected")
        time.sleep(0.01)
    with caplog.at_level("ERROR"):
        for n in range(1, 4):
            made.publish(stream, {"n": n})  # written by this thread, replies unread
        made.close()
    resets = [r for r in caplog.records if "reset" in r.getMessage().lower()]
    assert resets == [], [r.getMessage() for r in resets]
    with psycopg.connect(libpq(postgres_db_url), autocommit=True) as check:
        assert check.execute("SELECT 1").fetchone() == (1,)


def test_a_listener_whose_connection_is_ended_reconnects_without_a_failed_reset(broker, postgres_db_url, caplog):
    # the server ends the listener's backend (a restart, pg_terminate_backend): the listener
    # drops the lost connection — not reset, which fails and is logged as an error with a
    # traceback — and listens again; a publish from another process wakes this one's reads
    signals = signals_for(broker.engine)
    assert signals is not None and signals._listen_conn is not None
    pid = signals._listen_conn.info.backend_pid
    with caplog.at_level("ERROR"):
        with psycopg.connect(libpq(postgres_db_url), autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        give_up = time.monotonic() + 30  # a guard against a hang, not a timing goal
        while signals._listen_conn is None or signals._listen_conn.info.backend_pid == pid or not signals.listening:
            if time.monotonic() > give_up:
                pytest.fail("the listener never reconnected")
            time.sleep(0.01)
    resets = [r for r in caplog.records if "reset" in r.getMessage().lower()]
    assert resets == [], [r.getMessage() for r in resets]
    seen = bell(BROKER).generation
    with psycopg.connect(libpq(postgres_db_url), autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, 'elsewhere')", (CHANNELS[BROKER],))
    assert bell(BROKER).wait(seen, 30.0)  # a guard, not a timing goal
