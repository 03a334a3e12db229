"""The Outbox contract, on every storage provider (``port/outbox.py``)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.port.outbox import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT
from tests.adapters._model import define
from tests.adapters.conftest import SQL_PROVIDERS, start


@pytest.fixture
def database(make_domain):
    domain = make_domain()
    define(domain)
    start(domain)
    with domain.domain_context():
        yield domain.providers.database()


def rows(count: int, priority: int = 0, prefix: str = "m") -> list[dict]:
    return [
        {
            "message_id": f"{prefix}{i}",
            "stream": "shop::order-1",
            "type": "Shop.Placed.v1",
            "priority": priority,
            "correlation_id": "c1",
            "message": {"metadata": {"id": f"{prefix}{i}"}, "data": {"n": i}},
        }
        for i in range(count)
    ]


def write(database, records) -> None:
    tx = database.begin()
    tx.add_outbox(records)
    tx.commit()


def test_rows_are_written_with_the_transaction_or_not_at_all(database):
    tx = database.begin()
    tx.add_outbox(rows(2))
    tx.rollback()
    assert database.outbox().pending_count() == 0
    write(database, rows(2))
    assert database.outbox().pending_count() == 2


def test_claim_leases_oldest_first_with_priorities_ahead(database):
    write(database, rows(2, prefix="low"))
    write(database, rows(1, priority=5, prefix="high"))
    outbox = database.outbox()
    claimed = outbox.claim("w1", limit=2, lease_seconds=30)
    assert [r["message_id"] for r in claimed] == ["high0", "low0"]
    row = claimed[1]
    assert row["status"] == OUTBOX_PENDING
    assert row["attempts"] == 1
    assert row["lease_owner"] == "w1"
    assert row["lease_until"] > time.time()
    assert row["message"] == {"metadata": {"id": "low0"}, "data": {"n": 0}}
    assert row["created_at"] <= time.time() + 1
    assert claimed[0]["id"] != claimed[1]["id"]
    # leased rows are not claimed again; the rest is
    assert [r["message_id"] for r in outbox.claim("w2", limit=10)] == ["low1"]
    assert outbox.claim("w3") == []


def test_mark_sent_needs_the_lease(database):
    write(database, rows(2))
    outbox = database.outbox()
    claimed = outbox.claim("w1", lease_seconds=30)
    ids = [r["id"] for r in claimed]
    assert outbox.mark_sent(ids, "intruder") == 0
    assert outbox.mark_sent(ids[:1], "w1") == 1
    assert outbox.mark_sent(ids[:1], "w1") == 0  # already sent
    assert outbox.pending_count() == 1


def test_an_expired_lease_is_taken_over_and_fences_the_old_worker(database):
    write(database, rows(1))
    outbox = database.outbox()
    first = outbox.claim("w1", lease_seconds=0.2)
    time.sleep(0.35)
    second = outbox.claim("w2", lease_seconds=30)
    assert [r["id"] for r in second] == [first[0]["id"]]
    assert second[0]["attempts"] == 2
    assert outbox.mark_sent([first[0]["id"]], "w1") == 0
    assert outbox.mark_sent([first[0]["id"]], "w2") == 1


def test_an_expired_lease_cannot_mark_sent_even_before_a_takeover(database):
    write(database, rows(1))
    outbox = database.outbox()
    claimed = outbox.claim("w1", lease_seconds=0.2)
    time.sleep(0.35)
    assert outbox.mark_sent([claimed[0]["id"]], "w1") == 0


def test_release_gives_rows_back_or_fails_them(database):
    write(database, rows(2))
    outbox = database.outbox()
    a, b = outbox.claim("w1")
    assert outbox.release([a["id"]], "w2", error="nope") == 0
    assert outbox.release([a["id"]], "w1", error="broker down") == 1
    assert outbox.release([b["id"]], "w1", error="poison", failed=True) == 1
    again = outbox.claim("w1")
    assert [r["id"] for r in again] == [a["id"]]
    assert again[0]["last_error"] == "broker down"
    assert again[0]["attempts"] == 2
    assert outbox.pending_count() == 1


def test_purge_sent(database):
    write(database, rows(3))
    outbox = database.outbox()
    claimed = outbox.claim("w1")
    outbox.mark_sent([r["id"] for r in claimed[:2]], "w1")
    assert outbox.purge_sent(older_than_seconds=3600) == 0
    assert outbox.purge_sent() == 2
    assert outbox.pending_count() == 1


@pytest.mark.parametrize("provider", SQL_PROVIDERS, indirect=True)
def test_statuses_are_stored(database):
    write(database, rows(2))
    outbox = database.outbox()
    a, b = outbox.claim("w1")
    outbox.mark_sent([a["id"]], "w1")
    outbox.release([b["id"]], "w1", error="x", failed=True)
    stored = {r["id"]: r for r in outbox.rows()}
    assert stored[a["id"]]["status"] == OUTBOX_SENT and stored[a["id"]]["sent_at"]
    assert stored[b["id"]]["status"] == OUTBOX_FAILED


def test_concurrent_relays_claim_disjoint_rows(database):
    write(database, rows(200))
    outbox = database.outbox()
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def relay(name: str) -> None:
        try:
            mine = claimed.setdefault(name, [])
            while batch := outbox.claim(name, limit=7, lease_seconds=60):
                mine.extend(r["id"] for r in batch)
                assert outbox.mark_sent([r["id"] for r in batch], name) == len(batch)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=relay, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == 200 == len(set(every))
    assert outbox.pending_count() == 0


def test_claim_by_relay_shard_splits_the_outbox_by_aggregate(database):
    from archipel.port.outbox import shard_key

    records = []
    for n in range(24):
        for kind in ("shop::order:command", "shop::order"):  # an aggregate's commands and events
            records.append({**rows(1, prefix=f"{kind}-{n}-")[0], "stream": f"{kind}-{n}"})
    write(database, records)
    outbox = database.outbox()
    first = outbox.claim("w1", limit=100, shards=[0, 2], of=4)
    second = outbox.claim("w2", limit=100, shards=[1, 3], of=4)
    assert first and second
    assert len(first) + len(second) == 48  # every row, once
    for claimed, mine in ((first, {0, 2}), (second, {1, 3})):
        assert all(row["shard"] == shard_key(row["stream"]) and row["shard"] % 4 in mine for row in claimed)
        assert [row["id"] for row in claimed] == sorted(row["id"] for row in claimed)
    # commands and events of one aggregate are in the same shard
    aggregates = {row["stream"].rsplit("-", 1)[1]: row["shard"] for row in first + second}
    assert all(shard_key(f"shop::order:command-{n}") == shard for n, shard in aggregates.items())
    assert outbox.claim("w3", limit=100) == []  # nothing left, shard filter or not


def test_claim_can_leave_out_rows_of_a_stream_prefix(database):
    write(database, rows(2, prefix="own"))
    write(database, [{**row, "stream": "integration>shop::order-1"} for row in rows(2, prefix="pub")])
    outbox = database.outbox()
    claimed = outbox.claim("w1", limit=10, exclude_prefix="integration>")
    assert [r["message_id"] for r in claimed] == ["own0", "own1"]
    assert [r["message_id"] for r in outbox.claim("w1", limit=10)] == ["pub0", "pub1"]


def test_release_all_gives_back_every_row_a_worker_holds(database):
    write(database, rows(4))
    outbox = database.outbox()
    mine = outbox.claim("w1", limit=2, lease_seconds=30)
    theirs = outbox.claim("w2", limit=1, lease_seconds=30)
    outbox.mark_sent([mine[0]["id"]], "w1")
    assert outbox.release_all("w1") == 1  # the sent one stays sent
    again = outbox.claim("w3", limit=10, lease_seconds=30)
    ids = [r["id"] for r in again]
    assert len(ids) == 2 and ids[0] == mine[1]["id"] and theirs[0]["id"] not in ids  # w2 keeps its own
    assert outbox.release_all("nobody") == 0


def test_held_elsewhere_counts_the_rows_other_workers_hold(database):
    from archipel.port.outbox import shard_key

    write(database, rows(3))
    outbox = database.outbox()
    outbox.claim("a", limit=2, lease_seconds=60)
    assert outbox.held_elsewhere("b") == 2
    assert outbox.held_elsewhere("a") == 0
    shard = shard_key("shop::order-1")
    assert outbox.held_elsewhere("b", [shard % 4], 4) == 2
    assert outbox.held_elsewhere("b", [(shard + 1) % 4], 4) == 0
    outbox.claim("c", limit=1, lease_seconds=0.0001)  # a lease that has run out holds nothing
    time.sleep(0.01)
    assert outbox.held_elsewhere("b") == 2
    assert outbox.release_all("a") == 2
    assert outbox.held_elsewhere("b") == 0


@pytest.mark.parametrize("provider", SQL_PROVIDERS, indirect=True)
def test_claim_encoded_leases_like_claim_and_returns_the_stored_json_text(database):
    import msgspec

    records = rows(3)
    records[1]["message"] = {"metadata": {"id": "m1"}, "data": {"n": 1, "text": "é ✓ \"q\"", "x": 0.1}}
    write(database, records)
    write(database, rows(1, priority=5, prefix="high"))
    outbox = database.outbox()
    claimed = outbox.claim_encoded("w1", limit=3, lease_seconds=30)
    # the claim order of claim(), and only what a relay publishes with
    assert [msgspec.json.decode(r["message"])["metadata"]["id"] for r in claimed] == ["high0", "m0", "m1"]
    assert [set(r) for r in claimed] == [{"id", "stream", "priority", "message"}] * 3
    assert [r["priority"] for r in claimed] == [5, 0, 0]
    # the text is what a broker encodes the message to: publishing it is publishing the message
    assert claimed[2]["message"] == msgspec.json.encode(records[1]["message"]).decode()
    # leased as claim() leases: not claimed again, marked sent only by their holder
    assert [r["message_id"] for r in outbox.claim("w2", limit=10)] == ["m2"]
    ids = [r["id"] for r in claimed]
    assert outbox.mark_sent(ids, "w2") == 0
    assert outbox.mark_sent(ids, "w1") == 3
    assert outbox.claim_encoded("w3") == []


#: stream names as a database stores them: any text but surrogates and NUL (PostgreSQL refuses NUL)
STREAMS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(streams=st.lists(STREAMS, min_size=1, max_size=4))
def test_every_way_in_stores_the_shard_key_of_the_stream(provider, database, streams):
    """The transaction (one row, several, sent at the commit or flushed before it, as on
    PostgreSQL the one commit statement or not), ``add_missing`` and, on SQL, ``add``: each
    stores ``shard_key(stream)``, so an aggregate's rows go through one relay shard."""
    from archipel.port.outbox import shard_key

    def records(way: str) -> list[dict]:
        return [{**rows(1, prefix=f"{way}-{uuid.uuid4().hex}-")[0], "stream": s} for s in streams]

    write(database, records("one")[:1])
    write(database, records("tx"))
    ways = 3
    if provider != "memory":  # SQL: sent before the commit (the flush path), and add()
        ways += 2
        tx = database.begin()
        tx.add_outbox(records("flushed"))
        tx.connection()
        tx.commit()
        database.outbox().add(records("add"))
    database.outbox().add_missing(records("missing"))
    outbox = database.outbox()
    claimed = outbox.claim("w", limit=1000)
    assert len(claimed) == 1 + (ways - 1) * len(streams)
    assert all(row["shard"] == shard_key(row["stream"]) for row in claimed)
    assert {row["stream"] for row in claimed} == set(streams)
    outbox.mark_sent([row["id"] for row in claimed], "w")
    assert outbox.pending_count() == 0
