"""Gap-free reading on PostgreSQL: a log reader never moves past an event whose
transaction is still open, skips rolled-back holes at once, and reports (never
silently skips) a transaction left idle in transaction.

Other transactions are held open on separate psycopg connections, writing
events with the store's own insert statement.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import psycopg
import pytest

from archipel import BaseAggregate, BaseEvent, Domain
from archipel.adapters.sql.database import SqlDatabase
from archipel.adapters.sql.event_store import SqlEventStore
from archipel.fields import Identifier, String
from tests._servers import to_libpq_url
from tests.adapters._model import message

pytestmark = pytest.mark.postgres


class Noted(BaseEvent):
    note = String()
    thing_id = Identifier()


@pytest.fixture(scope="module")
def event_cls() -> type:
    domain = Domain(name="GapFree", config={"databases": {"default": {"provider": "memory"}}})

    @domain.aggregate
    class Thing(BaseAggregate):
        name = String()

    noted = domain.event(Noted, part_of=Thing)
    domain.init(traverse=False)
    yield noted
    domain.shutdown()


@pytest.fixture
def store(postgres_db_url: str) -> Iterator[SqlEventStore]:
    database = SqlDatabase("default", {"provider": "postgresql", "database_uri": postgres_db_url})
    store = database.event_store({"stuck_warning_seconds": 0.0})
    store.setup()
    store.truncate()
    yield store
    database.close()


@pytest.fixture
def other(postgres_db_url: str) -> Iterator[psycopg.Connection]:
    """Another session, in a transaction we control."""
    conn = psycopg.connect(to_libpq_url(postgres_db_url), autocommit=True)
    yield conn
    conn.close()


def event(event_cls: type, note: str):
    return message(event_cls, f"gap::thing-{note}", 0, note=note, thing_id=note)


def hold(conn: psycopg.Connection, store: SqlEventStore, *messages) -> list[int]:
    """BEGIN on ``conn``, insert ``messages``, leave the transaction open; return positions."""
    conn.execute("BEGIN")
    with conn.cursor() as cursor:
        stored = store.insert(cursor, messages)
    return [global_position for _, global_position, _ in stored]


def notes(messages) -> list[str]:
    return [m["data"]["note"] for m in messages]


def read_everything(store: SqlEventStore, after: int = 0) -> tuple[list[str], int]:
    """Page through the log one message at a time, as a subscription does."""
    seen = []
    while page := store.read_all(after_global=after, limit=1):
        seen.append(page[0]["data"]["note"])
        after = page[-1]["metadata"]["global_position"]
    return seen, after


def test_a_reader_waits_for_an_open_transaction_with_a_lower_position(store, other, event_cls):
    (early,) = hold(other, store, event(event_cls, "early"))
    late = event(event_cls, "late")
    store.append([late])
    assert late._metadata.global_position > early  # numbered after, committed first

    assert store.read_all() == []  # not "late": "early" may still commit before it
    assert store.read_category("gap::thing") == []
    other.execute("COMMIT")
    assert notes(store.read_all()) == ["early", "late"]
    assert [m["metadata"]["global_position"] for m in store.read_all()] == [
        early,
        late._metadata.global_position,
    ]


def test_a_rolled_back_transaction_leaves_a_hole_that_never_blocks(store, other, event_cls):
    hold(other, store, event(event_cls, "doomed"))
    store.append([event(event_cls, "kept")])
    assert store.read_all() == []
    other.execute("ROLLBACK")
    assert notes(store.read_all()) == ["kept"]  # at once: no timeout to wait out


def test_an_idle_in_transaction_session_holds_readers_back_and_is_reported(
    store, other, event_cls, caplog
):
    other.execute("SET application_name = 'forgotten-client'")
    hold(other, store, event(event_cls, "stuck"))
    store.append([event(event_cls, "after")])
    time.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="archipel.sql.gapfree"):
        assert store.read_all() == []
        time.sleep(0.05)
        assert store.read_all() == []  # still waiting: it is never skipped
    assert store.held_back_seconds > 0
    stuck = store.stuck_transactions(older_than_seconds=0.01)
    mine = [t for t in stuck if t["pid"] == other.info.backend_pid]
    assert len(mine) == 1
    assert mine[0]["state"] == "idle in transaction"
    assert mine[0]["application"] == "forgotten-client"
    assert int(mine[0]["xid"]) > 0 and mine[0]["age_seconds"] >= 0.01
    warning = "\n".join(r.getMessage() for r in caplog.records)
    assert f"pid={other.info.backend_pid}" in warning and "idle in transaction" in warning

    other.execute("COMMIT")
    assert notes(store.read_all()) == ["stuck", "after"]
    assert store.held_back_seconds == 0
    assert [t for t in store.stuck_transactions() if t["pid"] == other.info.backend_pid] == []


def test_xid_order_and_position_order_may_disagree_and_nothing_is_skipped(
    store, other, postgres_db_url, event_cls
):
    """The case that reading by ``global_position`` alone gets wrong.

    T1 gets its xid first (as a unit of work does when it writes its state row),
    T2 takes a lower global position and stays open, T1 takes a higher one and
    commits. The oldest running transaction is now T2, so T1's event is final and
    returned; T2's, numbered below it, commits afterwards.
    """
    t1 = psycopg.connect(to_libpq_url(postgres_db_url), autocommit=True)
    try:
        t1.execute("BEGIN")
        t1.execute("SELECT pg_current_xact_id()")  # T1's xid, before T2's
        (low,) = hold(other, store, event(event_cls, "t2-low"))  # T2
        with t1.cursor() as cursor:
            (high,) = [g for _, g, _ in store.insert(cursor, [event(event_cls, "t1-high")])]
        t1.execute("COMMIT")
        assert low < high

        seen, cursor = read_everything(store)
        assert seen == ["t1-high"]
        assert cursor == high
        other.execute("COMMIT")

        later, _ = read_everything(store, after=cursor)
        assert later == ["t2-low"]  # found, although numbered below the cursor
        # a reader going by position alone ("global_position > cursor") has lost it for good
        naive = other.execute(
            "SELECT count(*) FROM archipel_events WHERE global_position > %s", (cursor,)
        ).fetchone()
        assert naive == (0,)
    finally:
        t1.close()


@pytest.mark.parametrize("limit", [1, 2, 3, 500])
def test_a_rebuild_reads_batches_in_log_order_when_xid_and_position_order_disagree(
    store, other, postgres_db_url, event_cls, limit
):
    """The bulk reader of a rebuild (each batch's query starts while the one before is
    decoded, from the cursor the query returned) reads what ``read_all`` reads, in its
    order, each message once: across batches that split a transaction, and with text
    that JSON must escape (quotes, backslashes, a newline, ``,1]]``, non-ASCII)."""
    from archipel.adapters.sql.bulk import bulk_log

    t1 = psycopg.connect(to_libpq_url(postgres_db_url), autocommit=True)
    try:
        t1.execute("BEGIN")
        t1.execute("SELECT pg_current_xact_id()")  # T1's xid, before T2's
        hold(other, store, event(event_cls, 't2 "a"'), event(event_cls, "t2 \\b\n,1]]"))  # T2: low positions
        with t1.cursor() as cursor:
            store.insert(cursor, [event(event_cls, "t1 é"), event(event_cls, "t1 ✓")])  # T1: high
        t1.execute("COMMIT")
        other.execute("COMMIT")
        store.append([event(event_cls, "last")])
        expected, _ = read_everything(store)
        assert expected[:2] == ["t1 é", "t1 ✓"]  # T1 first: its xid is lower

        reader = bulk_log(store)
        assert reader is not None and reader.parallel  # the pipelined path
        batches = list(reader.batches(["gap::thing"], limit))
        assert [len(batch) for batch in batches][:-1] == [limit] * (len(batches) - 1)
        read = [data["note"] for batch in batches for _, _, data in batch]
        assert read == expected
        streams = [meta["stream"] for batch in batches for _, meta, _ in batch]
        assert streams == [f"gap::thing-{note}" for note in expected]

        stopped = reader.batches(["gap::thing"], 1)
        assert [data["note"] for _, _, data in next(stopped)] == expected[:1]
        stopped.close()  # a reader stopped early ends its query in flight
    finally:
        t1.close()
