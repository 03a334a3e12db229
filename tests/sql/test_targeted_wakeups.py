"""Targeted wake-ups on PostgreSQL: a notification names where the work is.

A publish to the database broker names its streams in the ``NOTIFY``
payload, a commit with outbox rows names the rows' ``shard`` values; the
listener of each process rings its doorbell with those keys, so only the
consumers of those streams and the relays of those shards wake (each woken
waiter looked: a transaction). A notification lost, coalesced or rung under
the wrong keys must never strand an entry or a row: waiters still look after
their fallback wait.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from archipel.adapters.sql.broker import DatabaseBroker
from archipel.adapters.sql.wakeup import CHANNELS, MAX_PAYLOAD, payload_keys, signals_for
from archipel.engine.worker import Worker
from archipel.utils.doorbell import BROKER, FREED, OUTBOX, Doorbell, bell, relay_key, relay_waiting
from tests._waiting import wait_until
from tests.engine.bank import check_ledgers
from tests.engine.conftest import postgres_bank
from tests.sql.test_broker_wakeup import count_looks, libpq, publish_silently

pytestmark = pytest.mark.postgres


@pytest.fixture
def broker(postgres_db_url):
    made = DatabaseBroker("default", {"database_uri": postgres_db_url})
    made.truncate()
    signals = signals_for(made.engine)
    assert signals is not None
    wait_until(signals.listen, "the listener's connection", 120.0)
    yield made
    made.close()


def _notify(url: str, signal: str, payload: str) -> None:
    """A notification as another process sends it."""
    with psycopg.connect(libpq(url), autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, %s)", (CHANNELS[signal], payload))


def _elsewhere(keys: list[str] | None = None) -> str:
    """The payload of another process's notification (another engine's token)."""
    token = uuid.uuid4().hex
    return token if keys is None else token + json.dumps(keys)


def test_another_process_publish_wakes_the_readers_of_its_streams_only(broker, postgres_db_url, monkeypatch):
    mine, other = f"s-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    for stream in (mine, other):
        broker.ensure_group(stream, "g")
        assert broker.read("g", "c", [stream]) == []  # a look that found nothing
    looks = count_looks(broker, monkeypatch)
    doorbell = bell(BROKER)
    seen = doorbell.generation
    publish_silently(postgres_db_url, other, '{"n": 1}')
    _notify(postgres_db_url, BROKER, _elsewhere([other]))
    assert doorbell.wait(seen, 30.0, [other])  # (a guard, not a timing goal)
    assert not doorbell.rung(seen, [mine])
    # the reader of the other stream is not woken: no look (a transaction) for nothing
    assert broker.read("g", "c", [mine], block_ms=30) == []
    assert looks == []
    got = broker.read("g", "c", [other], block_ms=30)
    assert [entry.payload for entry in got] == [{"n": 1}]
    assert looks == [[other]]


@pytest.mark.parametrize("payload", ["token alone", "not json", "too long"])
def test_a_notification_without_readable_keys_wakes_every_reader(broker, postgres_db_url, payload):
    stream = f"s-{uuid.uuid4().hex[:8]}"
    text = {
        "token alone": _elsewhere(),  # another version's, or a publish naming no stream
        "not json": uuid.uuid4().hex + "[not json",
        "too long": signals_for(broker.engine).payload([f"s-{n:06d}" for n in range(2000)]),  # type: ignore[union-attr]
    }[payload]
    if payload == "too long":
        assert text == signals_for(broker.engine).token  # type: ignore[union-attr]
        text = _elsewhere()  # (what another engine sends for it)
    assert len(text.encode()) <= MAX_PAYLOAD
    seen = bell(BROKER).generation
    _notify(postgres_db_url, BROKER, text)
    assert bell(BROKER).wait(seen, 30.0, [stream])  # a broad ring: every stream


def test_payload_keys_read_what_payload_writes(broker):
    signals = signals_for(broker.engine)
    assert signals is not None
    keys = ["a", "b c", 'q"uote', "é"]
    assert payload_keys(signals.payload(keys)) == sorted(keys)
    assert payload_keys(signals.payload(None)) is None
    assert payload_keys(signals.payload([])) is None


def test_a_commit_elsewhere_wakes_the_relay_of_its_rows_shards_only(broker, postgres_db_url):
    doorbell = bell(OUTBOX)
    relay_waiting(4)  # a relay of 4 relay shards waits in this process
    try:
        seen = doorbell.generation
        _notify(postgres_db_url, OUTBOX, _elsewhere(["5", "9"]))  # rows of shard values 5 and 9: relay shard 1
        assert doorbell.wait(seen, 30.0, [relay_key(1)])  # (a guard, not a timing goal)
        assert not doorbell.rung(seen, [relay_key(0), relay_key(2), relay_key(3)])
    finally:
        relay_waiting(4, waiting=False)
    seen = doorbell.generation
    _notify(postgres_db_url, OUTBOX, _elsewhere(["5"]))  # no relay here: every relay it may concern
    assert doorbell.wait(seen, 30.0, [relay_key(3)])


def test_shards_given_back_elsewhere_ring_freed_here_and_no_shard(broker, postgres_db_url):
    from archipel.adapters.sql.database import SqlDatabase

    doorbell = bell(OUTBOX)
    relay_waiting(4)
    try:
        seen = doorbell.generation
        _notify(postgres_db_url, OUTBOX, _elsewhere([FREED]))  # another process's relay gave shards back
        assert doorbell.wait(seen, 30.0, [FREED])  # (a guard, not a timing goal)
        assert doorbell.last_ring(FREED) > seen  # FREED itself, not a broad ring
        assert not doorbell.rung(seen, [relay_key(n) for n in range(4)])  # no relay looks for rows
    finally:
        relay_waiting(4, waiting=False)
    # what a process giving shards back sends: FREED, to this process's relays and the others'
    database = SqlDatabase("default", {"database_uri": postgres_db_url})
    try:
        with psycopg.connect(libpq(postgres_db_url), autocommit=True) as other:  # another process
            other.execute(f'LISTEN "{CHANNELS[OUTBOX]}"')
            seen = doorbell.generation
            database.relay_shards_freed()
            assert doorbell.last_ring(FREED) > seen  # this process's relays: rung at once
            heard = next(iter(other.notifies(timeout=30.0)), None)
            assert heard is not None and payload_keys(heard.payload) == [FREED]
    finally:
        database.close()


def test_a_relay_holding_no_shard_listens_so_shards_given_back_elsewhere_reach_it(postgres_db_url):
    # a worker whose relay held no shard from its start (a Redis broker: no consumer of the
    # database's signals) never started its listener: shards given back elsewhere went unheard
    from archipel.engine.leases import LeaseStore
    from archipel.engine.relay import OutboxRelay
    from archipel.engine.settings import EngineSettings

    bank = _bank(postgres_db_url, f"Short{uuid.uuid4().hex[:6]}")
    try:
        with bank.domain_context():
            bank.setup_database()
            settings_ = EngineSettings.from_config(bank.config)
            leases = LeaseStore(bank)
            relay = OutboxRelay(bank, bank.brokers["default"], leases, settings_, "short")
            held = [leases.acquire(relay.lease_id("default", n), "relay", "other", 60) for n in range(relay.shards)]
            relay.tick()  # every shard held elsewhere: none taken
            assert not relay._owned.get("default") and "default" in relay._short
            relay.idle_seconds(0.05)  # what its loop asks before each wait
            signals = signals_for(bank.providers.database("default").engine)
            assert signals is not None
            wait_until(lambda: signals.listening, "the relay's listener", 120.0)
            leases.release_many([lease for lease in held if lease is not None])
            doorbell = bell(OUTBOX)
            seen = doorbell.generation
            _notify(postgres_db_url, OUTBOX, _elsewhere([FREED]))  # the holder, in another process
            assert doorbell.wait(seen, 30.0, relay.wake_keys())  # (a guard, not a timing goal)
            relay.tick()
            assert sorted(relay._owned["default"]) == list(range(relay.shards))  # at once
            relay.release()
    finally:
        with bank.domain_context():
            bank.drop_database()
        bank.shutdown()


# -- nothing stranded ---------------------------------------------------------------------

#: what happens to a ring of the broker's or the outbox's doorbell
FATES = ("rung", "lost", "broad", "wrong keys")


def _bank(url: str, name: str) -> Any:
    return postgres_bank(name, url, partitions=4, relay_shards=4, lease_seconds=10.0, blocking_timeout_ms=50)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fates=st.lists(st.sampled_from(FATES), min_size=1, max_size=12),
    accounts=st.integers(min_value=2, max_value=8),
    per_account=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=2**16),
)
@example(fates=["lost"], accounts=4, per_account=3, seed=1)  # every ring lost: the fallback looks only
@example(fates=["wrong keys"], accounts=4, per_account=3, seed=2)  # every ring for nobody
def test_every_deposit_applies_once_in_order_whatever_happens_to_the_rings(
    postgres_db_url, monkeypatch, fates, accounts, per_account, seed
):
    # two engines, as two processes would have (each its own token and listener), each with
    # a worker: relays hold some shards, consumers some partitions; the rings of both
    # doorbells are lost, made broad or rung under other keys as the fates say
    bells = (bell(BROKER), bell(OUTBOX))
    ring = Doorbell.ring
    turn = iter(range(10**9))

    def fated(self: Doorbell, keys: Any = None) -> None:
        if self not in bells:
            return ring(self, keys)
        fate = fates[next(turn) % len(fates)]
        if fate == "rung":
            return ring(self, keys)
        if fate == "broad":
            return ring(self)
        if fate == "wrong keys":
            return ring(self, [f"elsewhere-{uuid.uuid4().hex}"])
        return None  # lost

    monkeypatch.setattr(Doorbell, "ring", fated)
    name = f"Aim{uuid.uuid4().hex[:6]}"
    banks = [_bank(postgres_db_url, name), _bank(postgres_db_url, name)]
    deposit = banks[0].elements["Deposit"]  # type: ignore[attr-defined]
    workers: list[Worker] = []
    try:
        with banks[0].domain_context():
            banks[0].setup_database()
            banks[0].brokers["default"].truncate()
        for bank in banks:
            with bank.domain_context():
                workers.append(Worker(bank).start())
        order = [(n, seq) for seq in range(1, per_account + 1) for n in range(accounts)]
        random.Random(seed).shuffle(order)  # (per account, seqs stay rising: deposit order)
        expected: dict[str, list[int]] = {}
        sent: dict[str, int] = {}
        with banks[0].domain_context():
            for n, _ in order:
                account = f"acc-{n}"
                sent[account] = sent.get(account, 0) + 1
                banks[0].process(deposit(account_id=account, amount=1, seq=sent[account]))
                expected.setdefault(account, []).append(sent[account])
        wait_until(lambda: not check_ledgers(banks[1], expected), "applying every deposit", 120.0)
        assert check_ledgers(banks[0], expected) == []
        assert check_ledgers(banks[1], expected) == []
    finally:
        for worker in workers:
            worker.stop()
        with banks[0].domain_context():
            banks[0].drop_database()
        for bank in banks:
            bank.shutdown()


def test_a_relay_waits_on_the_shards_it_holds_of_outboxes_whose_commits_ring_by_shard(postgres_db_url):
    # the per-process outbox of a memory database (a cache's) is relayed whole by each process,
    # but its commits ring broad: holding all of its shards must not make the relay wake for
    # every shard of the SQL outbox
    from archipel.adapters.memory.database import MemoryDatabase
    from archipel.engine.leases import Lease, LeaseStore
    from archipel.engine.relay import OutboxRelay
    from archipel.engine.settings import EngineSettings

    bank = _bank(postgres_db_url, f"Keys{uuid.uuid4().hex[:6]}")
    try:
        with bank.domain_context():
            bank.setup_database()
            settings_ = EngineSettings.from_config(bank.config)
            relay = OutboxRelay(bank, bank.brokers["default"], LeaseStore(bank), settings_, "me")
            bank.providers.databases["per-process"] = MemoryDatabase()

            def held(*shards: int) -> dict[int, Lease]:
                return {s: Lease(f"l{s}", "relay", "me", 1, time.time() + 60, 1) for s in shards}

            relay._owned = {"default": held(1, 3), "per-process": held(0, 1, 2, 3)}
            # (and shards given back elsewhere, whatever it holds: it looks at once)
            assert relay.wake_keys() == sorted([relay_key(1), relay_key(3), FREED])
            relay._owned = {"default": {}, "per-process": held(0, 1, 2, 3)}
            assert relay.wake_keys() == [FREED]  # (the memory outbox's rings are broad: they wake it)
    finally:
        bank.providers.databases.pop("per-process", None)
        with bank.domain_context():
            bank.drop_database()
        bank.shutdown()
