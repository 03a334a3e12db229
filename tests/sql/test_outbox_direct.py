"""The relay's direct path: outbox rows into a database broker of the same PostgreSQL database.

Claim, publish and mark sent are one transaction there (:mod:`archipel.adapters.sql.outbox_direct`):
entries and marks appear together or not at all, in claim order, a row another
transaction holds is waited for (never skipped: skipping would publish newer rows of its
aggregate first), and a broker anywhere else is published to the ordinary way.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from archipel import Domain
from archipel.adapters.sql.outbox_direct import DirectRelay
from archipel.errors import DatabaseError

pytestmark = pytest.mark.postgres


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def make_domain(url: str, broker: dict[str, Any]) -> Domain:
    domain = Domain(
        name=f"Direct{uuid.uuid4().hex[:6]}",
        config={
            "databases": {"default": {"provider": "postgresql", "database_uri": url}},
            "brokers": {"default": broker},
        },
    )
    domain.init(traverse=False)
    domain.setup_database()
    return domain


@pytest.fixture
def domain(postgres_db_url):
    made = make_domain(postgres_db_url, {"provider": "database"})
    outbox = made.providers.database().outbox()
    outbox.clear()
    made.brokers["default"].truncate()
    yield made
    made.shutdown()


def rows(n: int, aggregate: str = "a", priority: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "message_id": uuid.uuid4().hex,
            "stream": f"test::thing-{aggregate}",
            "type": "Test.Thing.v1",
            "priority": priority,
            "correlation_id": None,
            # key order and spacing as written: the direct path copies the stored JSON text
            "message": {"z": i, "a": {"nested": [1, 2, "é"]}, "metadata": {"stream": f"test::thing-{aggregate}"}},
        }
        for i in range(n)
    ]


def route(row: dict[str, Any]) -> str:
    return "test::thing#" + row["stream"].rpartition("-")[2]


def test_the_direct_path_is_taken_only_where_broker_and_outbox_share_the_engine(
    postgres_db_url, postgres_server, domain
):
    assert isinstance(domain.providers.database().direct_relay(domain.brokers["default"]), DirectRelay)
    # the same database through a connection of its own: published the ordinary way
    own = make_domain(postgres_db_url, {"provider": "database", "database_uri": postgres_db_url})
    try:
        assert own.providers.database().direct_relay(own.brokers["default"]) is None
    finally:
        own.shutdown()
    # another database of the domain
    name = postgres_server.create_database(prefix="t_direct_other")
    elsewhere = Domain(
        name=f"Direct{uuid.uuid4().hex[:6]}",
        config={
            "databases": {
                "default": {"provider": "postgresql", "database_uri": postgres_db_url},
                "streams": {"provider": "postgresql", "database_uri": postgres_server.url(name)},
            },
            "brokers": {"default": {"provider": "database", "database": "streams"}},
        },
    )
    try:
        elsewhere.init(traverse=False)
        broker = elsewhere.brokers["default"]
        assert elsewhere.providers.database().direct_relay(broker) is None
        assert elsewhere.providers.database("streams").direct_relay(broker) is not None
    finally:
        elsewhere.shutdown()
        postgres_server.drop_database(name)


def test_a_move_publishes_in_claim_order_and_marks_sent_in_one_go(domain):
    outbox = domain.providers.database().outbox()
    broker = domain.brokers["default"]
    outbox.add(rows(3, "a") + rows(2, "b") + rows(1, "a", priority=5))
    broker.ensure_group("test::thing#a", "g")
    broker.ensure_group("test::thing#b", "g")
    direct = domain.providers.database().direct_relay(broker)
    moved = direct.move(route, limit=100, seconds=5.0)
    assert [r["priority"] for r in moved] == [5, 0, 0, 0, 0, 0]  # highest priority, then oldest
    assert [r["id"] for r in moved[1:]] == sorted(r["id"] for r in moved[1:])
    assert all(r["status"] == "sent" and r["sent_at"] is not None for r in outbox.rows())
    stored = {r["id"]: r["message"] for r in outbox.rows()}
    got = broker.read("g", "c", ["test::thing#a", "test::thing#b"], count=100)
    by_stream: dict[str, list[Any]] = {}
    for entry in got:
        by_stream.setdefault(entry.stream, []).append(entry.payload)
    expected_a = [stored[r["id"]] for r in moved if r["stream"].endswith("-a")]
    expected_b = [stored[r["id"]] for r in moved if r["stream"].endswith("-b")]
    assert by_stream == {"test::thing#a": expected_a, "test::thing#b": expected_b}
    assert direct.move(route, limit=100, seconds=5.0) == []  # nothing pending any more


def test_a_move_takes_its_shards_only_and_no_more_than_its_limit(domain):
    outbox = domain.providers.database().outbox()
    direct = domain.providers.database().direct_relay(domain.brokers["default"])
    outbox.add(rows(1, "a") + rows(1, "b") + rows(1, "c") + rows(1, "d"))
    shard = {r["stream"]: r["shard"] for r in outbox.rows()}
    mine = shard["test::thing-a"] % 2
    moved = direct.move(route, limit=100, seconds=5.0, shards=[mine], of=2)
    assert moved and {shard[r["stream"]] % 2 for r in moved} == {mine}
    assert len(direct.move(route, limit=1, seconds=5.0)) == 1


def test_a_row_held_by_another_transaction_is_waited_for_not_skipped(domain, postgres_db_url):
    outbox = domain.providers.database().outbox()
    broker = domain.brokers["default"]
    direct = domain.providers.database().direct_relay(broker)
    outbox.add(rows(2, "a"))
    first, second = (r["id"] for r in outbox.rows())
    with psycopg.connect(libpq(postgres_db_url)) as holder:
        holder.execute("SELECT id FROM archipel_outbox WHERE id = %s FOR UPDATE", (first,))
        # skipping the held row would publish the aggregate's second message first: the move
        # waits instead, and gives up (nothing moved) when its time is up
        with pytest.raises(DatabaseError):
            direct.move(route, limit=100, seconds=0.3)
        assert [r["status"] for r in outbox.rows()] == ["pending", "pending"]
        assert broker.length("test::thing#a") == 0
        # released while a move waits: it goes on and takes both, in order
        done: list[Any] = []
        mover = threading.Thread(target=lambda: done.append(direct.move(route, limit=100, seconds=10.0)))
        mover.start()
        holder.rollback()
    mover.join(30)
    assert [[r["id"] for r in found] for found in done] == [[first, second]]
    broker.ensure_group("test::thing#a", "g")
    assert [e.payload["z"] for e in broker.read("g", "c", ["test::thing#a"], count=10)] == [0, 1]


def test_a_move_that_fails_moves_nothing(domain, postgres_db_url):
    outbox = domain.providers.database().outbox()
    direct = domain.providers.database().direct_relay(domain.brokers["default"])
    outbox.add(rows(2, "a"))

    def broken(row: dict[str, Any]) -> str:
        raise RuntimeError("routing failed")

    with pytest.raises(RuntimeError):
        direct.move(broken, limit=100, seconds=5.0)
    assert [r["status"] for r in outbox.rows()] == ["pending", "pending"]
    # the rows' locks went with the failed transaction: the next move takes them
    assert len(direct.move(route, limit=100, seconds=5.0)) == 2


def test_a_move_notifies_other_processes_at_its_commit_and_rings_here_once(domain, postgres_db_url):
    from archipel.adapters.sql.wakeup import CHANNELS, signals_for
    from archipel.utils.doorbell import BROKER, OUTBOX, bell

    outbox = domain.providers.database().outbox()
    broker = domain.brokers["default"]
    direct = domain.providers.database().direct_relay(broker)
    signals = signals_for(direct.engine)
    assert signals is not None
    give_up = 30.0  # guards against a hang, not timing goals
    deadline = time.monotonic() + give_up
    while not signals.listen():  # our listener is up: it skips the echo of our notifications
        if time.monotonic() > deadline:  # a hang guard: the test waits for the event, not a time
            pytest.fail(f"the listener never connected in {give_up:.0f} s")
        time.sleep(0.01)
    doorbell, outbox_bell = bell(BROKER), bell(OUTBOX)

    def failing(row: dict[str, Any]) -> str:
        raise RuntimeError("routing failed")

    with psycopg.connect(libpq(postgres_db_url), autocommit=True) as watcher:
        watcher.execute(f'LISTEN "{CHANNELS[BROKER]}"')
        watcher.execute(f'LISTEN "{CHANNELS[OUTBOX]}"')
        outbox.add(rows(2, "a"))
        with pytest.raises(RuntimeError):
            direct.move(failing, limit=100, seconds=5.0)  # rolled back: notifies nobody
        seen = doorbell.generation
        assert len(direct.move(route, limit=100, seconds=5.0)) == 2
        assert doorbell.generation == seen + 1  # this process's consumers: rung after the commit
        # another process's notification after it: notifications arrive in commit order
        with psycopg.connect(libpq(postgres_db_url), autocommit=True) as other:
            outbox_seen = outbox_bell.generation
            other.execute("SELECT pg_notify(%s, '')", (CHANNELS[OUTBOX],))
        got = [note.channel for note in watcher.notifies(timeout=give_up, stop_after=2)]
        # the failed move sent nothing; the move that committed, one notification
        assert got == [CHANNELS[BROKER], CHANNELS[OUTBOX]]
    # our listener got both too, in order: once the later one rang, the echo of the move's
    # notification had been received, and skipped (the commit rang here already)
    assert outbox_bell.wait(outbox_seen, timeout=give_up)
    assert doorbell.generation == seen + 1
