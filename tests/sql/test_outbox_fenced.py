"""A PostgreSQL outbox whose relay shard leases live in its own database is relayed with one
write per row: rows are read under the shard leases (no row lease written) and marked sent
fenced on them (``outbox_fenced.py``, ``relay_fenced.py``).

What must hold as with row leases: a read returns exactly what a claim would lease (the ids
still in flight aside) and leases nothing; a mark lands only while the relay holds every shard
lease it read the rows under, unexpired and never given back meanwhile; rows leased by a relay
of the row-lease protocol are neither read nor marked; relays taking shards over, giving them
back and stalling past their leases, under a live load, still publish every message, each
aggregate's in order, and a graceful hand-over publishes nothing twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.engine import EngineSettings
from archipel.engine.leases import LeaseStore
from archipel.engine.ownership import Membership
from archipel.engine.relay import OutboxRelay
from archipel.port.outbox import ShardFence
from tests.engine.bank import build_bank
from tests.engine.conftest import deposit_many, server_config
from tests.sql.test_outbox_shard_claims import OF, expected, lease_as_other, record
from tests.sql.test_outbox_shard_claims import domain as domain  # noqa: F401 - the fixture

pytestmark = pytest.mark.postgres


def _bank(url: str, **server: Any) -> Any:
    database = {"provider": "postgresql", "database_uri": url, "outbox_table": f"ob_{uuid.uuid4().hex[:10]}"}
    config = {
        "databases": {"default": database},
        "event_store": {"provider": "postgresql"},
        "brokers": {"default": {"provider": "inline"}},  # not in the database: claim/read, publish, mark
        "command_processing": "sync",
        "event_processing": "async",
        "server": server_config(**{"relay_shards": OF, "lease_seconds": 5.0, **server}),
    }
    bank = build_bank(f"Fenced{uuid.uuid4().hex[:6]}", config)
    bank.init(traverse=False)
    with bank.domain_context():
        bank.setup_database()
    return bank


def _count_writes(outbox: Any) -> Any:
    """A trigger counting the row updates of the outbox table; returns a reader of the count."""
    table = outbox.table.name
    counter = f"{table}_writes"

    def ddl(conn: Any) -> None:
        conn.execute(f"CREATE TABLE {counter} (n bigint NOT NULL)")
        conn.execute(f"INSERT INTO {counter} VALUES (0)")  # noqa: S608 - a test table
        conn.execute(
            f"CREATE FUNCTION {counter}_f() RETURNS trigger LANGUAGE plpgsql AS "  # noqa: S608 - a test table
            f"$$ BEGIN UPDATE {counter} SET n = n + 1; RETURN NEW; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER {counter}_t AFTER UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {counter}_f()"
        )

    outbox.engine.run(ddl)
    return lambda: outbox.engine.run(lambda conn: conn.execute(f"SELECT n FROM {counter}").fetchone()[0])  # noqa: S608


def _relay(bank: Any, name: str, broker: Any = None, membership: bool = False, **engine: Any) -> OutboxRelay:
    settings = replace(EngineSettings.from_config(bank.config), **engine)
    leases = LeaseStore(bank)
    members = None
    if membership:
        members = Membership(leases, bank, name, settings.lease_seconds)
        members.heartbeat()
    return OutboxRelay(bank, broker or bank.brokers["default"], leases, settings, name, membership=members)


def test_relaying_writes_each_row_once_and_leases_none(postgres_db_url):
    bank = _bank(postgres_db_url)
    with bank.domain_context():
        outbox = bank.providers.database("default").outbox()
        writes = _count_writes(outbox)
        deposit_many(bank, accounts=6, per_account=7)
        rows = len(outbox.rows())
        relay = _relay(bank, "relay", relay_batch_size=10)  # several batches: reads ahead too
        leased: list[Any] = []
        publish_many = bank.brokers["default"].publish_many

        def publish(entries: Any) -> Any:  # while publishing: nothing is leased in the table
            leased.extend(r["id"] for r in outbox.rows() if r["lease_owner"] is not None)
            return publish_many(entries)

        bank.brokers["default"].publish_many = publish
        while relay.tick():
            pass
        relay.flush()
        assert rows == 42 and outbox.pending_count() == 0
        assert writes() == rows  # one write per row relayed: its mark (a claim wrote it too)
        assert leased == []
        relay.release()
    bank.shutdown()


def test_a_failed_publish_of_rows_read_without_a_lease_notes_its_error_and_relays_them_again(postgres_db_url):
    bank = _bank(postgres_db_url)
    with bank.domain_context():
        outbox = bank.providers.database("default").outbox()
        deposit_many(bank, accounts=2, per_account=3)
        relay = _relay(bank, "relay")
        publish_many = bank.brokers["default"].publish_many
        published: list[Any] = []

        def broken(entries: Any) -> Any:
            raise ConnectionError("broker away")

        bank.brokers["default"].publish_many = broken
        with pytest.raises(ConnectionError):
            relay.tick()
        relay.flush()
        rows = outbox.rows()
        assert rows and all(r["status"] == "pending" and r["lease_owner"] is None for r in rows)
        assert {r["last_error"] for r in rows} == {"ConnectionError: broker away"}

        def working(entries: Any) -> Any:
            published.extend(entries)
            return publish_many(entries)

        bank.brokers["default"].publish_many = working
        while relay.tick():
            pass
        relay.flush()
        assert outbox.pending_count() == 0
        assert len(published) == len(rows)  # each given-back row published once, after the failure
        relay.release()
    bank.shutdown()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 2), st.sampled_from(["shop::order", "integration>shop::order"])),
        max_size=50,
    ),
    held=st.lists(st.tuples(st.integers(0, 49), st.booleans()), max_size=15),
    skipped=st.lists(st.integers(0, 49), max_size=15),
    mine=st.sets(st.integers(0, OF - 1), min_size=1, max_size=OF),
    limit=st.integers(1, 25),
    exclude=st.booleans(),
    encoded=st.booleans(),
    index=st.booleans(),
)
def test_a_read_returns_what_a_claim_would_lease_but_the_rows_skipped_and_leases_nothing(
    domain, rows, held, skipped, mine, limit, exclude, encoded, index  # noqa: F811 - the fixture
):
    database = domain.providers.database()
    outbox = database.outbox()
    outbox.clear()
    outbox.add([record(i, f"{kind}-{aggregate}", priority) for i, (aggregate, priority, kind) in enumerate(rows)])
    ids = lease_as_other(database, outbox, held)  # rows leased by a relay of the row-lease protocol
    skip = sorted({ids[p] for p in skipped if p < len(ids)})
    outbox._shard_index[OF] = (index, float("inf"))  # both shapes: with the index and without
    prefix = "integration>" if exclude else None
    before = outbox.rows()
    every = expected(outbox, mine, len(ids) + 1, prefix)
    wanted = [i for i in every if i not in skip][:limit]
    found = outbox.read_claimable(limit=limit, shards=sorted(mine), of=OF, exclude_prefix=prefix, skip=skip, encoded=encoded)
    assert [r["id"] for r in found] == wanted
    if wanted:
        sample = found[0]
        assert set(sample) >= {"id", "stream", "priority", "message"}
        assert isinstance(sample["message"], str if encoded else dict)
    assert outbox.rows() == before  # nothing written


@pytest.mark.parametrize("what", ["held", "taken over", "given back and taken again", "expired", "row leased"])
def test_a_mark_lands_only_for_the_shards_whose_lease_it_was_read_under_still_holds(postgres_db_url, what):
    bank = _bank(postgres_db_url)
    with bank.domain_context():
        outbox = bank.providers.database("default").outbox()
        leases = LeaseStore(bank)
        deposit_many(bank, accounts=8, per_account=2)
        ids = [f"{bank.snake_name}/relay/default/{shard}" for shard in (0, 1)]
        mine = [leases.acquire(lease_id, "relay", "me", 0.5 if what == "expired" else 30) for lease_id in ids]
        fence = ShardFence(leases.schema.table, "me", OF, tuple((x.id, x.token, s) for s, x in enumerate(mine) if x))
        rows = outbox.read_claimable(limit=100, shards=[0, 1], of=OF)
        lost: set[int] = set()
        assert len(fence.leases) == 2 and {r["shard"] % OF for r in rows} == {0, 1}
        unmarked: set[int] = set()
        if what == "taken over":  # its lease of shard 0 ended and another relay took the shard
            assert leases.release(mine[0])
            assert leases.acquire(ids[0], "relay", "you", 30) is not None
            lost = {0}
        elif what == "given back and taken again":  # by the same owner: a new token, rows read before are not its
            assert leases.release(mine[1])
            assert leases.acquire(ids[1], "relay", "me", 30) is not None
            lost = {1}
        elif what == "expired":
            time.sleep(0.6)
            lost = {0, 1}
        elif what == "row leased":  # a relay of the row-lease protocol holds one row
            (claimed,) = outbox.claim("old-relay", limit=1, lease_seconds=60, shards=[0, 1], of=OF)
            unmarked.add(claimed["id"])
        wanted = {r["id"] for r in rows if r["shard"] % OF not in lost} - unmarked
        marked = outbox.mark_sent([r["id"] for r in rows], "me", fence=fence)
        sent = {r["id"] for r in outbox.rows() if r["status"] == "sent"}
        assert marked == len(wanted) and sent == wanted
    bank.shutdown()


class _Recorder:
    """The broker, recording each message's id by stream as published (stalling once when told)."""

    def __init__(self, broker: Any, seen: dict[str, list[str]], lock: threading.Lock, stall: dict[str, Any]) -> None:
        self._broker, self._seen, self._lock, self._stall = broker, seen, lock, stall

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def publish_many(self, entries: Any) -> Any:
        if self._stall.pop("once", None):  # stalled past its leases (a GC pause, a slow network)
            time.sleep(self._stall["seconds"])
        with self._lock:
            for _, payload in entries:
                self._seen.setdefault(payload["metadata"]["stream"], []).append(payload["metadata"]["id"])
        return self._broker.publish_many(entries)


def _in_order(outbox: Any, seen: dict[str, list[str]]) -> None:
    """Every row was published, and each stream's messages first reached the broker in the
    order of their rows (copies published again later aside)."""
    rows = outbox.rows()
    position = {r["message"]["metadata"]["id"]: r["id"] for r in rows}
    assert {m for ms in seen.values() for m in ms} == set(position)
    for stream, messages in seen.items():
        first = list(dict.fromkeys(messages))
        assert [position[m] for m in first] == sorted(position[m] for m in first), stream


def _next_look(relay: OutboxRelay) -> None:
    """As a second later: the relay looks at the shards again, and counts the workers again."""
    relay._next_acquire.clear()
    if relay.membership is not None:
        relay.membership._counted_at = 0.0


def test_a_relay_giving_shards_back_lets_its_marks_land_first_so_nothing_is_published_twice(postgres_db_url):
    bank = _bank(postgres_db_url, lease_seconds=30.0)
    seen: dict[str, list[str]] = {}
    lock = threading.Lock()
    with bank.domain_context():
        outbox = bank.providers.database("default").outbox()
        deposit_many(bank, accounts=12, per_account=4)
        mark_sent = outbox.mark_sent

        def slow_mark(*args: Any, **kwargs: Any) -> Any:  # marks still in flight at the give-back
            time.sleep(0.3)
            return mark_sent(*args, **kwargs)

        outbox.mark_sent = slow_mark  # type: ignore[method-assign]
        bank.providers.database("default").outbox = lambda: outbox  # type: ignore[method-assign]
        first = _relay(bank, "first", _Recorder(bank.brokers["default"], seen, lock, {}), True, relay_batch_size=5)
        assert first.tick() == 5 and len(first._owned["default"]) == OF  # alone: every shard
        second = _relay(bank, "second", _Recorder(bank.brokers["default"], seen, lock, {}), True, relay_batch_size=5)
        _next_look(first)
        first.tick()  # gives half of the shards back, its marks landed first
        assert len(first._owned["default"]) == OF // 2
        for _ in range(50):
            moved = first.tick() + second.tick()
            if not moved and not outbox.pending_count():
                break
        first.flush()
        second.flush()
        assert second.relayed and outbox.pending_count() == 0
        assert all(len(ms) == len(set(ms)) for ms in seen.values()), seen  # none twice
        _in_order(outbox, seen)
        first.release()
        second.release()
    bank.shutdown()


def test_relays_taking_over_giving_back_and_stalling_under_load_publish_everything_in_order(postgres_db_url, caplog):
    lease = 1.0
    bank = _bank(postgres_db_url, lease_seconds=lease)
    seen: dict[str, list[str]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []
    stalls: dict[str, dict[str, Any]] = {name: {"seconds": lease * 3} for name in ("a", "b", "c")}
    stopping = {name: threading.Event() for name in stalls}

    def run(name: str) -> None:
        try:
            with bank.domain_context():
                broker = _Recorder(bank.brokers["default"], seen, lock, stalls[name])
                relay = _relay(bank, name, broker, membership=True, relay_batch_size=5)
                while not stopping[name].is_set():
                    if not relay.tick():
                        time.sleep(0.01)
                relay.release()
                assert relay.membership is not None
                relay.membership.leave()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = {name: threading.Thread(target=run, args=(name,)) for name in stalls}
    with bank.domain_context():
        outbox = bank.providers.database("default").outbox()
        threads["a"].start()
        threads["b"].start()
        deposit_many(bank, accounts=10, per_account=5)
        stalls["a"]["once"] = True  # a stalls mid-publish, past its leases: its shards are taken over
        threads["c"].start()  # c joins: shards are given back to it
        deposit_many(bank, accounts=10, per_account=5)
        stopping["b"].set()  # b stops: gives its shards back
        threads["b"].join()
        stalls["c"]["once"] = True
        deposit_many(bank, accounts=10, per_account=5)
        deadline = time.monotonic() + 60
        while outbox.pending_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        for name in ("a", "c"):
            stopping[name].set()
            threads[name].join()
        assert not errors, errors
        assert outbox.pending_count() == 0 and len(outbox.rows()) == 150
        _in_order(outbox, seen)
        # the stalled relays' shards were taken over meanwhile: they found out at a renewal, or
        # their marks were refused (fenced)
        assert "lost shard" in caplog.text or "shards lost) while publishing" in caplog.text
    bank.shutdown()


def _plan(outbox: Any, sql: str, params: dict[str, Any]) -> str:
    rows = outbox.engine.run(lambda conn: conn.execute("EXPLAIN (COSTS OFF) " + sql, params).fetchall())
    return "\n".join(row[0] for row in rows)


def test_marks_never_walk_the_pending_rows_and_reads_skip_by_a_hash_on_an_outbox_never_analysed(domain):  # noqa: F811
    """An outbox whose backlog grew since it was analysed (never, here): a mark walked every
    pending row (the planner guessed the pending index tiny: 17 ms instead of 1.6 ms for 500
    rows of 10 000), and a read searched its skip list once per row in a generic plan."""
    database = domain.providers.database()
    outbox = database.outbox()
    outbox.clear()
    outbox.add([record(n, f"shop::order-{n}") for n in range(3000)])
    ids = [r["id"] for r in outbox.rows()][:500]
    name = outbox.table.name
    by_lease = _plan(outbox, outbox._ids_sql("sent", len(ids)), {"ids": ids, "worker": "w"})
    assert f"{name}_pending" not in by_lease, by_lease  # (by key, or a scan of a table it thinks small)
    fenced = outbox.fenced
    assert fenced is not None
    from archipel.adapters.sql.outbox_fenced import _MARK

    mark = _MARK.replace("@O@", name).replace("@L@", "archipel_none_leases")
    outbox.engine.run(lambda conn: conn.execute(
        "CREATE TABLE IF NOT EXISTS archipel_none_leases (id text, owner text, token bigint, expires_at float8)"))
    params = {"ids": ids, "of": OF, "lease_ids": ["x"], "tokens": [1], "shards": [0], "owner": "w"}
    by_fence = _plan(outbox, mark, params)
    assert f"{name}_pending" not in by_fence, by_fence
    (count, exclude), read_params = outbox.claim_params([0, 2], OF, None)
    read_params.update({"limit": 100, "skip": ids})
    for by_shard in (0, OF):
        read = _plan(outbox, fenced._read_sql(count, exclude, True, by_shard), read_params)
        assert "hashed SubPlan" in read, read
