"""Relays take and give back their relay shards together, and an outbox's leases live where it does.

A relay starting takes its whole share of the shards in one transaction; a relay giving
shards back (a second one joined, or it stops) gives them all back in one; so a relay
joining holds its share after one look instead of one shard per transaction (it relayed
one shard for ~300 ms before it had the others). No shard is ever held by two relays,
and the shards of a relay that died are taken over once their leases expire.

The leases of each database's outbox live in that database, among the workers that reach
it: a memory outbox (the memory cache's ``cache:default``) belongs to one process, whose
relays share it among themselves; held in PostgreSQL beside the default outbox's, each of
two worker processes took half of the shards of its own memory outbox and relayed nothing
of the other half.

On the memory database, SQLite and PostgreSQL (leases through the Database port).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.engine import EngineSettings
from archipel.engine.leases import LeaseStore
from archipel.engine.ownership import Membership
from archipel.engine.relay import OutboxRelay
from tests.engine.bank import build_bank
from tests.engine.conftest import ASYNC_MEMORY, server_config

BACKENDS = ["memory", "sqlite", "postgres"]


class CountingCommits(LeaseStore):
    """A lease store counting the transactions it commits (its writes; the database is real)."""

    def __init__(self, domain: Any) -> None:
        super().__init__(domain)
        self.commits = 0
        database = self.database
        store = self

        class Counted:
            def begin(self) -> Any:
                tx = database.begin()

                class Tx:
                    def __getattr__(self, name: str) -> Any:
                        return getattr(tx, name)

                    def commit(self) -> Any:
                        store.commits += 1
                        return tx.commit()

                return Tx()

        self.database = Counted()


@pytest.fixture(params=BACKENDS)
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """``make(name)``: a bank on the backend; two banks of one name share its database (two
    worker processes) but not their memory caches."""
    made: list[Any] = []
    if request.param == "memory":
        config: dict[str, Any] = dict(ASYNC_MEMORY)
    else:
        if request.param == "sqlite":
            database = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path}/bank.db"}
        else:
            request.applymarker(pytest.mark.postgres)
            database = {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}
        config = {
            **ASYNC_MEMORY,
            "databases": {"default": database},
            "event_store": {"provider": database["provider"]},
            "brokers": {"default": {"provider": "database"}},
        }
    config["server"] = server_config(lease_seconds=5)
    shared: dict[str, Any] = {}

    def factory(name: str | None = None) -> Any:
        name = name or f"Relays{uuid.uuid4().hex[:6]}"
        if request.param == "memory" and name in shared:
            return shared[name]  # one process: the same memory database
        bank = build_bank(name, config)
        bank.init(traverse=False)
        with bank.domain_context():
            bank.setup_database()
        made.append(bank)
        shared[name] = bank
        return bank

    factory.backend = request.param  # type: ignore[attr-defined]
    yield factory
    for bank in made:
        bank.shutdown()


def _relay(bank: Any, name: str, shards: int, leases: LeaseStore | None = None) -> OutboxRelay:
    """A relay of ``shards`` shards whose worker ``name`` has joined the group."""
    engine = replace(EngineSettings.from_config(bank.config), relay_shards=shards)
    leases = leases or CountingCommits(bank)
    membership = Membership(LeaseStore(bank), bank, name, engine.lease_seconds)
    membership.heartbeat()
    return OutboxRelay(bank, bank.brokers["default"], leases, engine, name, membership=membership)


def _next_look(relay: OutboxRelay) -> None:
    """As a second later: the relay looks at the shards again, and counts the workers again."""
    relay._next_acquire.clear()
    for members in [relay.membership, *(m for _, m in relay._stores.values())]:
        if members is not None:
            members._counted_at = 0.0


def _holders(bank: Any, database: str = "default") -> dict[str, str]:
    """The stored, unexpired relay shard leases of ``database``'s outbox: lease id -> owner."""
    return {r["id"]: r["owner"] for r in LeaseStore(bank, database).live("relay") if f"/relay/{database}/" in r["id"]}


def _stop(relays: list[OutboxRelay]) -> None:
    for relay in relays:
        relay.release()
        assert relay.membership is not None
        relay.membership.leave()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shards=st.integers(1, 8), count=st.integers(1, 4))
def test_each_relay_takes_its_share_in_one_transaction_and_each_shard_has_one_holder(make, shards, count):
    bank = make()
    with bank.domain_context():
        names = [f"w{n}-{uuid.uuid4().hex[:4]}" for n in range(count)]
        relays = [_relay(bank, name, shards) for name in names]  # all joined before the first look
        share = math.ceil(shards / count)
        try:
            for relay in relays:
                relay.tick()
            held = [set(relay._owned.get("default", {})) for relay in relays]
            for relay, mine in zip(relays, held, strict=True):
                assert isinstance(relay.leases, CountingCommits)
                assert len(mine) <= share
                assert relay.leases.commits == (1 if mine else 0)  # its whole share, one transaction
            assert sorted(s for mine in held for s in mine) == list(range(shards))  # each once
            holders = _holders(bank)
            assert len(holders) == shards
            for relay, mine in zip(relays, held, strict=True):
                assert {s for s in range(shards) if holders.get(relay.lease_id("default", s)) == relay.worker_id} == mine
        finally:
            _stop(relays)
        assert _holders(bank) == {}  # each gave all of its back


@pytest.mark.parametrize("shards", [2, 4, 7])
def test_a_relay_joining_gets_its_share_in_one_step_and_the_other_gives_it_in_one(make, shards):
    bank = make()
    with bank.domain_context():
        first = _relay(bank, "first", shards)
        first.tick()
        assert sorted(first._owned["default"]) == list(range(shards))  # alone: every shard
        assert isinstance(first.leases, CountingCommits) and first.leases.commits == 1
        second = _relay(bank, "second", shards)
        assert isinstance(second.leases, CountingCommits)
        try:
            second.tick()  # every shard held: it takes none, and writes nothing
            assert not second._owned.get("default") and second.leases.commits == 0
            _next_look(first)
            first.tick()  # two workers now: it gives back what exceeds its share, at once
            keep = math.ceil(shards / 2)
            assert len(first._owned["default"]) == keep
            assert first.leases.commits == 2
            _next_look(second)  # (holding none, it looks every poll interval, not at every tick)
            second.tick()
            assert len(second._owned["default"]) == shards - keep  # at once
            assert second.leases.commits == 1
            assert not set(first._owned["default"]) & set(second._owned["default"])
            assert set(_holders(bank).values()) == {"first", "second"} and len(_holders(bank)) == shards
        finally:
            _stop([first, second])


def test_the_shards_of_a_relay_that_died_are_taken_over_together_once_its_leases_expired(make):
    bank = make()
    with bank.domain_context():
        engine = replace(EngineSettings.from_config(bank.config), relay_shards=4, lease_seconds=2.0)
        members = LeaseStore(bank)
        relays = []
        for name in ("dies", "lives"):
            membership = Membership(members, bank, name, engine.lease_seconds)
            membership.heartbeat()
            relays.append(OutboxRelay(bank, bank.brokers["default"], CountingCommits(bank), engine, name,
                                      membership=membership))
        dies, lives = relays
        dies.tick()
        lives.tick()
        mine = set(lives._owned["default"])
        theirs = set(dies._owned["default"])
        assert len(mine) == len(theirs) == 2 and not mine & theirs
        _next_look(lives)
        lives.tick()  # "dies" holds its shards: none is taken from it
        assert set(lives._owned["default"]) == mine
        time.sleep(2.1)  # "dies" stopped: its member lease and shard leases expire
        assert isinstance(lives.leases, CountingCommits)
        before = lives.leases.commits
        _next_look(lives)
        lives.tick()
        assert sorted(lives._owned["default"]) == [0, 1, 2, 3]
        assert lives.leases.commits - before == 2  # its own renewed, and the others taken: together
        assert set(_holders(bank).values()) == {"lives"}
        lives.release()


def test_the_leases_of_a_per_process_outbox_live_in_its_database_and_each_process_relays_all_of_it(make):
    """Two workers of one bank: threads of one process on the memory database (they share its
    memory cache), processes on SQLite or PostgreSQL (each has a memory cache of its own). The
    default outbox is split between them either way; a memory cache's outbox is split between
    the workers of its process only — each of two processes relays all of its own."""
    name = f"Relays{uuid.uuid4().hex[:6]}"
    banks = [make(name), make(name)]
    one_process = banks[0] is banks[1]
    relays = [_relay(bank, worker, 4) for bank, worker in zip(banks, ("first", "second"), strict=True)]
    try:
        for _ in range(2):
            for bank, relay in zip(banks, relays, strict=True):
                with bank.domain_context():
                    _next_look(relay)
                    relay.tick()
        default = [set(relay._owned["default"]) for relay in relays]
        assert [len(mine) for mine in default] == [2, 2] and not default[0] & default[1]
        cache = [set(relay._owned["cache:default"]) for relay in relays]
        if one_process:
            assert [len(mine) for mine in cache] == [2, 2] and not cache[0] & cache[1]
        else:
            assert cache == [{0, 1, 2, 3}, {0, 1, 2, 3}]
        for bank in banks:  # no lease of a memory outbox in a database other processes reach
            assert not [i for i in _holders(bank, "default") if "/relay/cache:default/" in i]
            assert (bank.providers.database().__class__.__name__ == "MemoryDatabase") == one_process
        # every row of each process's own memory outbox is relayed by that process
        for n, bank in enumerate(banks):
            outbox = bank.providers.database("cache:default").outbox()
            outbox.add([
                {"message_id": f"m{n}-{i}", "stream": f"bank::account-{n}-{i}", "type": "Bank.Deposited.v1",
                 "priority": 0, "message": {"id": f"m{n}-{i}", "metadata": {"stream": f"bank::account-{n}-{i}"}}}
                for i in range(40)
            ])
            assert {row["shard"] % 4 for row in outbox.rows.values()} == {0, 1, 2, 3}
        for _ in range(3):
            for bank, relay in zip(banks, relays, strict=True):
                with bank.domain_context():
                    relay.tick()
                    relay.flush()
        for bank in banks:
            assert bank.providers.database("cache:default").outbox().pending_count() == 0
    finally:
        for bank, relay in zip(banks, relays, strict=True):
            with bank.domain_context():
                _stop([relay])


class Racing(LeaseStore):
    """A lease store whose next look at the leases is followed by another worker's take of
    ``stolen`` (between this store's read and its write)."""

    stolen: list[str] = []

    def _scope_rows(self, tx: Any, scope: str) -> list[dict[str, Any]]:
        rows = super()._scope_rows(tx, scope)
        while self.stolen:
            assert LeaseStore(self.domain).acquire(self.stolen.pop(), scope, "thief", 60) is not None
        return rows


def test_a_take_raced_by_another_worker_reads_again_and_takes_only_what_is_still_free(make):
    bank = make()
    with bank.domain_context():
        leases = Racing(bank)
        ids = [f"{bank.snake_name}/relay/default/{n}" for n in range(4)]
        leases.stolen = [ids[1]]  # taken by "thief" after the look, before the write
        taken = leases.acquire_many(ids, "relay", "me", 60, limit=3)
        assert [lease.id for lease in taken] == [ids[0], ids[2], ids[3]]
        owners = {r["id"]: r["owner"] for r in leases.live("relay")}
        assert owners == {ids[0]: "me", ids[1]: "thief", ids[2]: "me", ids[3]: "me"}
        # its leases renew together; one written elsewhere meanwhile (a new version) is lost
        assert LeaseStore(bank).acquire(ids[0], "relay", "me", 60) is not None
        versions = [lease.version for lease in taken]
        lost = leases.renew_many(taken, 60)
        assert [lease.id for lease in lost] == [ids[0]]
        assert [lease.version for lease in taken[1:]] == [v + 1 for v in versions[1:]]  # renewed
        leases.release_many(taken[1:])  # the others given back together
        assert {r["id"] for r in leases.live("relay")} == {ids[0], ids[1]}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workers=st.integers(2, 4), shards=st.integers(1, 8))
def test_workers_taking_shards_at_once_never_share_one(make, workers, shards):
    import threading

    bank = make()
    with bank.domain_context():
        prefix = f"{bank.snake_name}/relay/race-{uuid.uuid4().hex[:6]}/"
        ids = [f"{prefix}{n}" for n in range(shards)]
        taken: dict[str, list[str]] = {}
        start = threading.Barrier(workers)

        def take(name: str) -> None:
            store = LeaseStore(bank)
            start.wait()
            with bank.domain_context():
                taken[name] = [lease.id for lease in store.acquire_many(ids, "relay", name, 60, shards)]

        threads = [threading.Thread(target=take, args=(f"w{n}",)) for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        every = [lease_id for mine in taken.values() for lease_id in mine]
        assert len(every) == len(set(every))  # no shard taken by two
        owners = {r["id"]: r["owner"] for r in LeaseStore(bank).live("relay") if r["id"].startswith(prefix)}
        assert owners == {lease_id: name for name, mine in taken.items() for lease_id in mine}
        assert sorted(owners) == sorted(ids)  # and every one taken (each asked for all of them)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_leases_of_another_database_live_there_and_of_an_alias_with_the_default_ones(
    backend, request: pytest.FixtureRequest, tmp_path: Path
):
    """An outbox of another database is led through leases (and members) in that database; a
    database named twice (the same server and database) keeps one lease table and one member
    lease per worker."""
    if backend == "sqlite":
        urls = [f"sqlite:///{tmp_path}/{name}.db" for name in ("bank", "other")]
    else:
        request.applymarker(pytest.mark.postgres)
        server = request.getfixturevalue("postgres_server")
        names = [server.create_database(prefix="t_relay_stores") for _ in range(2)]
        request.addfinalizer(lambda: [server.drop_database(name) for name in names])
        urls = [server.url(name) for name in names]
    provider = "sqlite" if backend == "sqlite" else "postgresql"
    config = {
        **ASYNC_MEMORY,
        "databases": {
            "default": {"provider": provider, "database_uri": urls[0]},
            "alias": {"provider": provider, "database_uri": urls[0]},
            "other": {"provider": provider, "database_uri": urls[1]},
        },
        "event_store": {"provider": provider},
        "brokers": {"default": {"provider": "database"}},
        "server": server_config(lease_seconds=5),
    }
    bank = build_bank(f"Relays{uuid.uuid4().hex[:6]}", config)
    bank.init(traverse=False)
    try:
        with bank.domain_context():
            bank.setup_database()
            relay = _relay(bank, "only", 4)
            relay.tick()
            assert relay.lease_store("alias")[0] is relay.leases  # the default's, under another name
            other, members = relay.lease_store("other")
            assert other is not relay.leases and other.database is bank.providers.database("other")
            assert members is not None and members is not relay.membership
            for name in ("default", "alias", "other", "cache:default"):
                assert sorted(relay._owned[name]) == [0, 1, 2, 3]  # the only worker: every shard
            assert len(_holders(bank, "other")) == 4  # in the other database
            in_default = LeaseStore(bank).live("relay")
            assert {r["id"].split("/")[2] for r in in_default} == {"default", "alias"}
            assert [r["owner"] for r in other.live(members.scope)] == ["only"]
            _stop([relay])
            assert _holders(bank, "other") == {} and other.live(members.scope) == []
    finally:
        bank.shutdown()


class _Trims:
    """The broker, counting its trims by relay."""

    def __init__(self, broker: Any, relay: str, trims: dict[str, int]) -> None:
        self._broker, self._relay, self._trims = broker, relay, trims

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def trim(self, stream: str) -> int:
        self._trims[self._relay] = self._trims.get(self._relay, 0) + 1
        return int(self._broker.trim(stream))


def test_only_the_holder_of_the_default_outbox_first_shard_trims_the_broker_streams(make):
    """Each process's relays hold the shard 0 of its memory cache's outbox (they purge its
    sent rows): one worker only trims the broker's streams, as before."""
    name = f"Relays{uuid.uuid4().hex[:6]}"
    banks = [make(name), make(name)]
    trims: dict[str, int] = {}
    relays = []
    for bank, worker in zip(banks, ("first", "second"), strict=True):
        with bank.domain_context():
            engine = replace(EngineSettings.from_config(bank.config), relay_shards=4, trim_interval_seconds=0.0)
            membership = Membership(LeaseStore(bank), bank, worker, engine.lease_seconds)
            membership.heartbeat()
            broker = _Trims(bank.brokers["default"], worker, trims)
            relays.append(OutboxRelay(bank, broker, LeaseStore(bank), engine, worker, ["bank::account#0"], membership))
    try:
        for _ in range(3):
            for bank, relay in zip(banks, relays, strict=True):
                with bank.domain_context():
                    _next_look(relay)
                    relay._next_trim = 0.0
                    relay.tick()
        (first_holder,) = [relay.worker_id for relay in relays if 0 in relay._owned["default"]]
        assert set(trims) == {first_holder}
    finally:
        for bank, relay in zip(banks, relays, strict=True):
            with bank.domain_context():
                _stop([relay])


def _patient(bank: Any, name: str) -> OutboxRelay:
    """A relay of 4 shards whose next look is far off (a poll interval of ten minutes)."""
    engine = replace(EngineSettings.from_config(bank.config), relay_shards=4, blocking_timeout_ms=600_000)
    membership = Membership(LeaseStore(bank), bank, name, engine.lease_seconds)
    membership.heartbeat()
    return OutboxRelay(bank, bank.brokers["default"], CountingCommits(bank), engine, name, membership=membership)


def test_shards_given_back_are_taken_at_the_next_tick_not_at_the_next_look(make):
    """A relay giving shards back says so (FREED): one holding none takes them at its next tick,
    not a poll interval later (the benchmark's start: every relay at its own phase, 0-50 ms)."""
    bank = make()
    with bank.domain_context():
        first = _patient(bank, "first")
        first.tick()
        assert sorted(first._owned["default"]) == [0, 1, 2, 3]  # alone: every shard
        second = _patient(bank, "second")
        try:
            second.tick()  # every shard held: none taken; its next look is ten minutes away
            assert not second._owned.get("default")
            _next_look(first)
            first.tick()  # two workers: it gives two back, and says so
            assert len(first._owned["default"]) == 2
            second.tick()
            assert len(second._owned["default"]) == 2  # at once
            assert not set(first._owned["default"]) & set(second._owned["default"])
        finally:
            _stop([first, second])


def test_a_worker_stopping_has_the_others_take_its_shards_at_once(make):
    """A worker that stops gives its shards back and leaves the group: the others' shares grow,
    and their relays look (counting the workers again) at once, not up to a second later."""
    from archipel.engine.worker import Worker

    bank = make()
    with bank.domain_context():
        settings_ = replace(EngineSettings.from_config(bank.config), relay_shards=4, blocking_timeout_ms=600_000)
        leaving = Worker(bank, settings_, worker_id="leaving")
        leaving.membership.heartbeat()
        stays = _patient(bank, "stays")
        try:
            assert leaving.relay is not None
            leaving.relay.tick()
            stays.tick()
            _next_look(leaving.relay)
            leaving.relay.tick()  # two workers: two shards each
            assert len(stays._owned["default"]) == 2 and len(leaving.relay._owned["default"]) == 2
            stays.tick()  # holding its share: its next look is a second away, its count cached
            assert len(stays._owned["default"]) == 2
            leaving.relay.release()  # (what the relay's thread does as it ends)
            leaving.stop()
            stays.tick()
            assert sorted(stays._owned["default"]) == [0, 1, 2, 3]  # alone now: all, at once
            assert set(_holders(bank).values()) == {"stays"}
        finally:
            _stop([stays])
