"""The direct relay's moves by relay shard (``adapters/sql/outbox_direct.py``).

A relay holding some of the ``relay_shards`` shards chooses its rows through the index
``<outbox>_pending_of<n>_idx``, as claims do (``test_outbox_shard_claims.py``): it reads
its own shards' rows only, instead of every pending row of the outbox (with several relays
the old statement sorted all of them at each move). The rows are the same either way, locked
and waited for, never skipped; a row another transaction moved meanwhile is left out, and
then the move does not say the outbox is drained (rows after it may be pending).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.adapters.sql.outbox_claim import SHARD_PLAN
from tests.sql.test_outbox_shard_claims import OF, expected, lease_as_other, make_domain, record

pytestmark = pytest.mark.postgres


@pytest.fixture
def domain(postgres_db_url: str):
    made = make_domain(postgres_db_url, "database", relay_shards=OF)
    with made.domain_context():
        made.setup_database()
        made.brokers["default"].truncate()
        yield made
        made.drop_database()
    made.shutdown()


def route(row: dict[str, Any]) -> str:
    return "shop::order#" + row["stream"].rpartition("-")[2]


def _plan(database: Any, explain: str, params: dict[str, Any], settings: tuple[str, ...]) -> str:
    """The plan ``explain`` prints after ``settings`` (``SET LOCAL``), in a transaction rolled back."""

    def run(conn: Any) -> str:
        conn.execute("BEGIN")
        try:
            for setting in settings:
                conn.execute(setting)
            return "\n".join(r[0] for r in conn.execute(explain, params).fetchall())
        finally:
            conn.execute("ROLLBACK")

    return str(database.engine.run(run))


def test_a_move_of_some_shards_reads_them_through_the_shard_index(domain):
    database = domain.providers.database()
    outbox = database.outbox()
    outbox.add([record(n, f"shop::order-{n}") for n in range(4000)])
    assert outbox.has_shard_index(OF)
    # analysed, as autovacuum soon leaves a working outbox (the refetch of a table never
    # analysed: test_the_chosen_rows_are_refetched_by_address_whether_or_not_the_outbox_was_analysed)
    database.engine.run(lambda conn: conn.execute(f"ANALYZE {outbox.table.name}"))
    for shards in (1, 2):
        sql = outbox.claims.locking(shards, False, OF)
        # as the relay sends it: with SHARD_PLAN
        plan = _plan(database, "EXPLAIN (ANALYZE, COSTS OFF) " + sql, {"limit": 20, "s0": 1, "s1": 3}, SHARD_PLAN)
        assert plan.count(f"Index Scan using {outbox.table.name}_pending_of{OF}_idx") == shards
        assert "mod(shard, 4) = 1" in plan and ("mod(shard, 4) = 3" in plan) == (shards == 2)
        assert f"{outbox.table.name}_pending_idx" not in plan  # no walk over every shard's rows
        assert ("Tid Scan" in plan) == (shards == 2)  # the chosen rows locked by address


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2)), max_size=50),
    leased=st.lists(st.tuples(st.integers(0, 49), st.booleans()), max_size=15),
    mine=st.sets(st.integers(0, OF - 1), min_size=1, max_size=OF - 1),
    limit=st.integers(1, 25),
    index=st.booleans(),
)
def test_a_move_by_shard_publishes_exactly_the_rows_a_claim_would_lease(domain, rows, leased, mine, limit, index):
    database = domain.providers.database()
    outbox = database.outbox()
    outbox.clear()
    outbox.add([record(i, f"shop::order-{aggregate}", priority) for i, (aggregate, priority) in enumerate(rows)])
    lease_as_other(database, outbox, leased)  # rows another relay claimed the ordinary way
    outbox._shard_index[OF] = (index, float("inf"))  # both shapes: with the index and without
    wanted = expected(outbox, mine, limit, None)
    moved = database.direct_relay(domain.brokers["default"]).move(
        route, limit=limit, seconds=5.0, shards=sorted(mine), of=OF
    )
    assert [r["id"] for r in moved] == wanted
    assert moved.drained == (len(wanted) < limit)
    assert {r["id"] for r in outbox.rows() if r["status"] == "sent"} == set(wanted)


def test_a_row_moved_meanwhile_is_left_out_and_the_move_says_more_may_wait(domain, postgres_db_url):
    database = domain.providers.database()
    outbox = database.outbox()
    direct = database.direct_relay(domain.brokers["default"])
    by_shard: dict[int, list[int]] = {}
    for n in range(40):
        outbox.add([record(n, f"shop::order-{n}")])
    for row in outbox.rows():
        by_shard.setdefault(row["shard"] % OF, []).append(row["id"])
    mine = sorted(by_shard)[:2]
    first = min(by_shard[mine[0]] + by_shard[mine[1]])
    chosen = sorted(by_shard[mine[0]] + by_shard[mine[1]])[:5]
    assert first == chosen[0]
    url = postgres_db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as holder:  # a former owner of the shard, moving its first row
        holder.execute(
            f"UPDATE {outbox.table.name} SET status = 'sent' WHERE id = %s",  # noqa: S608 - a test table
            (first,),
        )
        done: list[Any] = []
        mover = threading.Thread(
            target=lambda: done.append(direct.move(route, limit=5, seconds=10.0, shards=mine, of=OF))
        )
        mover.start()
        time.sleep(0.3)  # the move chose the row and waits for its lock
        assert not done
        holder.commit()
    mover.join(30)
    (moved,) = done
    assert [r["id"] for r in moved] == chosen[1:]  # left out, nothing newer jumped the queue
    assert not moved.drained  # four rows of five: rows after them may be pending
    rest = direct.move(route, limit=100, seconds=5.0, shards=mine, of=OF)
    assert [r["id"] for r in rest] == sorted(by_shard[mine[0]] + by_shard[mine[1]])[5:]
    assert rest.drained


def test_once_analysed_claims_and_moves_still_read_by_the_shard_index(domain):
    """ANALYZE leaves the planner without statistics of ``mod(shard, n)``: unhelped, it reads every
    row of the shards to sort them (a bitmap scan); the settings sent with the statement
    (``SHARD_PLAN``) keep the ordered scan that stops at the limit."""
    database = domain.providers.database()
    outbox = database.outbox()
    outbox.add([record(n, f"shop::order-{n}") for n in range(4000)])
    database.engine.run(lambda conn: conn.execute(f"ANALYZE {outbox.table.name}"))
    params = {"limit": 100, "s0": 1, "s1": 3, "worker": "w", "lease": 30.0}
    index = f"Index Scan using {outbox.table.name}_pending_of{OF}_idx"

    def plan(sql: str, settings: tuple[str, ...]) -> str:
        return _plan(database, "EXPLAIN (COSTS OFF) " + sql, params, settings)

    for sql in (outbox.claims.locking(2, False, OF), outbox.claims.statement(2, False, True, OF)):
        helped = plan(sql, SHARD_PLAN)
        assert helped.count(index) == 2 and "Bitmap" not in helped and "Sort" not in helped.replace("Sort Key", "")
        assert "Bitmap" in plan(sql, ())  # (what the settings are for: the planner's guess)


@pytest.mark.parametrize("analysed", [False, True])
def test_the_chosen_rows_are_refetched_by_address_whether_or_not_the_outbox_was_analysed(domain, analysed):
    """Several shards: the merged scans choose the rows, which are then locked by address. Of an
    outbox never analysed the planner guessed a partial index of pending rows tiny and walked it
    whole to refetch the chosen rows (every pending row read, ~1.4 ms a move at 4 000 pending);
    the refetch's conditions prove no partial index's predicate, so it is a Tid Scan either way —
    for the direct relay's choice and for a claim."""
    database = domain.providers.database()
    outbox = database.outbox()
    table = outbox.table.name

    def run(sql: str) -> Any:
        return database.engine.run(lambda conn: conn.execute(sql))

    def value(sql: str) -> Any:
        return database.engine.run(lambda conn: conn.execute(sql).fetchone()[0])

    run(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")  # no ANALYZE behind the test's back
    outbox.add([record(n, f"shop::order-{n}") for n in range(4000)])
    if analysed:
        run(f"ANALYZE {table}")
    params = {"limit": 100, "s0": 1, "s1": 3, "worker": "w", "lease": 30.0}
    for sql in (outbox.claims.locking(2, False, OF), outbox.claims.statement(2, False, True, OF)):
        plan = _plan(database, "EXPLAIN (ANALYZE, COSTS OFF) " + sql, params, SHARD_PLAN)
        # the two shards' ordered scans, and no other index read: the refetch is by address
        assert plan.count("Index Scan") == 2, plan
        assert plan.count(f"Index Scan using {table}_pending_of{OF}_idx") == 2, plan
        assert "Tid Scan" in plan and "TID Cond: (ctid = ANY" in plan, plan
        assert "Seq Scan" not in plan and "Rows Removed by Filter" not in plan, plan
    reltuples = value(f"SELECT reltuples FROM pg_class WHERE relname = '{table}'")  # noqa: S608 - a test table
    assert (reltuples >= 0) == analysed  # -1: never analysed nor vacuumed (PostgreSQL 14 and later)
