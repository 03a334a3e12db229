"""Claims by relay shard (``adapters/sql/outbox_claim.py``): a relay holding some of the
``relay_shards`` shards reads only its own shards' rows, through the index
``<outbox>_pending_of<n>_idx`` that ``setup_database``/``setup_outbox`` create for the
domain's ``relay_shards``. Without it (a database set up before), claims still lease the
same rows the slower way, and a warning names the index and how to create it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import Domain
from archipel.adapters.sql import outbox_claim as outbox_module
from archipel.port.outbox import configured_relay_shards

pytestmark = pytest.mark.postgres

OF = 4


def make_domain(url: str, broker: str = "inline", **server: Any) -> Domain:
    """A domain on ``url`` with an outbox table of its own (``server``: its [server] settings)."""
    table = f"ob_{uuid.uuid4().hex[:10]}"
    domain = Domain(
        name=f"Shards{uuid.uuid4().hex[:6]}",
        config={
            "databases": {
                "default": {"provider": "postgresql", "database_uri": url, "outbox_table": table}
            },
            "brokers": {"default": {"provider": broker}},
            **({"server": server} if server else {}),
        },
    )
    domain.init(traverse=False)
    return domain


@pytest.fixture
def domain(postgres_db_url: str):
    domain = make_domain(postgres_db_url, relay_shards=OF)
    with domain.domain_context():
        domain.setup_outbox()
        yield domain
        domain.drop_database()
    domain.shutdown()


def indexes(database: Any) -> set[str]:
    table = database.outbox().table.name
    rows = database.engine.run(
        lambda conn: conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %(t)s", {"t": table}
        ).fetchall()
    )
    return {row[0] for row in rows}


def record(n: int, stream: str, priority: int = 0) -> dict[str, Any]:
    return {
        "message_id": f"m{n}",
        "stream": stream,
        "type": "Shop.Placed.v1",
        "priority": priority,
        "message": {"metadata": {"id": f"m{n}"}, "data": {"n": n}},
    }


def lease_as_other(database: Any, outbox: Any, leased: list[tuple[int, bool]]) -> list[int]:
    """Lease the rows at these positions of the outbox (oldest first) to another relay, the
    row-lease way, live or expired (``(position, expired)``); positions past the end are
    ignored. Returns the ids of every row, oldest first."""
    ids = [r["id"] for r in outbox.rows()]
    for position, expired in leased:
        if position < len(ids):
            database.engine.run(
                lambda conn, i=ids[position], lease=(-5.0 if expired else 60.0): conn.execute(
                    f"UPDATE {outbox.table.name} SET lease_owner = 'other', "  # noqa: S608 - a test table
                    "lease_until = extract(epoch FROM now()) + %(l)s WHERE id = %(i)s",
                    {"l": lease, "i": i},
                )
            )
    return ids


def expected(outbox: Any, mine: set[int], limit: int, exclude: str | None) -> list[int]:
    """The ids a claim must lease, from every row: pending, not leased by anyone else (or
    the lease expired), of the shards held, not of the excluded streams, in claim order."""
    now = outbox.engine.run(lambda conn: conn.execute("SELECT extract(epoch FROM now())").fetchone()[0])
    free = [
        r
        for r in outbox.rows()
        if r["status"] == "pending"
        and (r["lease_until"] is None or r["lease_until"] < float(now))
        and r["shard"] % OF in mine
        and not (exclude and r["stream"].startswith(exclude))
    ]
    free.sort(key=lambda r: (-r["priority"], r["id"]))
    return [r["id"] for r in free[:limit]]


def test_setup_creates_the_claim_index_of_the_configured_relay_shards(postgres_db_url):
    for server, wanted in (({"relay_shards": 8}, 8), ({"partitions": 3}, 3), ({}, 4)):
        domain = make_domain(postgres_db_url, **server)
        with domain.domain_context():
            domain.setup_database()
            database = domain.providers.database()
            name = database.outbox().table.name
            assert configured_relay_shards(domain.config) == wanted
            assert f"{name}_pending_of{wanted}_idx" in indexes(database)
            assert {i for i in indexes(database) if "_pending_of" in i} == {f"{name}_pending_of{wanted}_idx"}
            domain.drop_database()
        domain.shutdown()
    # one relay shard: every relay claims everything, no index by shard
    domain = make_domain(postgres_db_url, relay_shards=1)
    with domain.domain_context():
        domain.setup_outbox()
        assert not {i for i in indexes(domain.providers.database()) if "_pending_of" in i}
        domain.drop_database()
    domain.shutdown()


def test_configured_relay_shards_reads_the_server_table_as_the_engine_does():
    assert configured_relay_shards({}) == 4
    assert configured_relay_shards({"server": {"partitions": 6}}) == 6
    assert configured_relay_shards({"server": {"partitions": 6, "relay_shards": 2}}) == 2
    for bad in (0, -1, "4", True, None):
        value = configured_relay_shards({"server": {"relay_shards": bad}})
        assert value == (4 if bad is None else 1)


def test_a_claim_of_some_shards_reads_them_through_the_shard_index(domain):
    database = domain.providers.database()
    outbox = database.outbox()
    outbox.add([record(n, f"shop::order-{n}") for n in range(400)])
    database.engine.run(lambda conn: conn.execute(f"ANALYZE {outbox.table.name}"))
    assert outbox.has_shard_index(OF)
    sql = outbox.claims.statement(2, False, False, OF)
    params = {"worker": "w", "lease": 30.0, "limit": 20, "s0": 1, "s1": 3}
    plan = "\n".join(
        row[0]
        for row in database.engine.run(
            lambda conn: conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params).fetchall()
        )
    )
    assert f"{outbox.table.name}_pending_of{OF}_idx" in plan
    assert "mod(shard, 4) = 1" in plan and "mod(shard, 4) = 3" in plan
    assert f"{outbox.table.name}_pending_idx" not in plan  # no walk over every shard's rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 2), st.sampled_from(["shop::order", "integration>shop::order"])),
        min_size=0,
        max_size=60,
    ),
    held=st.lists(st.tuples(st.integers(0, 59), st.booleans()), max_size=20),
    mine=st.sets(st.integers(0, OF - 1), min_size=1, max_size=OF - 1),
    limit=st.integers(1, 25),
    exclude=st.booleans(),
    encoded=st.booleans(),
    index=st.booleans(),
)
def test_a_claim_by_shard_leases_exactly_the_rows_the_contract_says(
    domain, rows, held, mine, limit, exclude, encoded, index
):
    database = domain.providers.database()
    outbox = database.outbox()
    outbox.clear()
    outbox.add([record(i, f"{kind}-{aggregate}", priority) for i, (aggregate, priority, kind) in enumerate(rows)])
    lease_as_other(database, outbox, held)  # rows leased by another worker, some leases expired
    outbox._shard_index[OF] = (index, float("inf"))  # both shapes: with the index and without
    prefix = "integration>" if exclude else None
    wanted = expected(outbox, mine, limit, prefix)
    claim = outbox.claim_encoded if encoded else outbox.claim
    claimed = claim("w", limit=limit, lease_seconds=30, shards=sorted(mine), of=OF, exclude_prefix=prefix)
    assert [r["id"] for r in claimed] == wanted
    leased = {r["id"] for r in outbox.rows() if r["lease_owner"] == "w"}
    assert leased == set(wanted)


def test_relays_of_the_same_shards_claim_disjoint_rows(domain):
    database = domain.providers.database()
    outbox = database.outbox()
    outbox.add([record(n, f"shop::order-{n}") for n in range(300)])
    mine = [r["id"] for r in outbox.rows() if r["shard"] % OF in (0, 2)]
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def relay(name: str) -> None:
        try:
            ids = claimed.setdefault(name, [])
            while batch := outbox.claim(name, limit=7, lease_seconds=60, shards=[0, 2], of=OF):
                ids.extend(r["id"] for r in batch)
                assert outbox.mark_sent([r["id"] for r in batch], name) == len(batch)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    assert outbox.has_shard_index(OF)
    threads = [threading.Thread(target=relay, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    every = [i for ids in claimed.values() for i in ids]
    assert sorted(every) == sorted(mine)  # each row of those shards once, no other shard's
    assert outbox.pending_count() == 300 - len(mine)


def test_a_database_set_up_before_claims_correctly_and_says_how_to_create_the_index(
    domain, caplog, monkeypatch
):
    database = domain.providers.database()
    outbox = database.outbox()
    index = f"{outbox.table.name}_pending_of{OF}_idx"
    database.engine.run(lambda conn: conn.execute(f"DROP INDEX {index}"))
    outbox._shard_index.clear()
    monkeypatch.setattr(outbox_module, "_INDEX_LOOK_SECONDS", 0.0)
    outbox.add([record(n, f"shop::order-{n}", n % 2) for n in range(40)])
    want = expected(outbox, {1, 2}, 9, None)
    with caplog.at_level(logging.WARNING, logger="archipel.outbox"):
        claimed = outbox.claim("w", limit=9, shards=[1, 2], of=OF)
    assert [r["id"] for r in claimed] == want
    warned = [r.getMessage() for r in caplog.records if index in r.getMessage()]
    assert len(warned) == 1 and "setup_outbox" in warned[0] and "CREATE INDEX" in warned[0]
    assert not outbox.has_shard_index(OF)
    caplog.clear()
    domain.setup_outbox()  # the upgrade: creates the missing index, touches nothing else
    assert index in indexes(database)
    assert outbox.has_shard_index(OF)
    want = expected(outbox, {1, 2}, 9, None)
    assert [r["id"] for r in outbox.claim("w2", limit=9, shards=[1, 2], of=OF)] == want
    assert not [r for r in caplog.records if index in r.getMessage()]  # warned once only
