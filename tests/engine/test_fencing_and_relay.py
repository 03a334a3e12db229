"""Leases with fencing, and the relay's crash window between publishing and marking sent."""

from __future__ import annotations

import threading
import time

import pytest

from archipel.engine import EngineSettings, run_server
from archipel.engine.consumer import Consumer
from archipel.engine.dlq import DeadLetterStore
from archipel.engine.leases import LeaseStore
from archipel.engine.ownership import Membership
from archipel.engine.relay import OutboxRelay
from archipel.engine.subscriptions import active_subscriptions
from archipel.errors import BrokerUnavailable, DatabaseUnavailable, LeaseLostError
from tests.engine.bank import BEHAVIOUR, check_ledgers
from tests.engine.conftest import deposit_many


def _consumer(bank, worker_id: str, kind: str = "projector") -> Consumer:
    settings = EngineSettings.from_config(bank.config)
    leases = LeaseStore(bank)
    sub = next(s for s in active_subscriptions(bank) if s.kind == kind)
    membership = Membership(leases, bank, worker_id, settings.lease_seconds)
    return Consumer(
        bank, sub, bank.brokers["default"], leases, DeadLetterStore(bank), membership,
        settings, worker_id, threading.Event(),
    )


def _relay_all(bank, worker_id: str = "relay") -> None:
    settings = EngineSettings.from_config(bank.config)
    relay = OutboxRelay(bank, bank.brokers["default"], LeaseStore(bank), settings, worker_id)
    while relay.tick():
        pass
    relay.release()


def test_leases_are_exclusive_and_fenced(make_bank):
    bank = make_bank()
    leases = LeaseStore(bank)
    mine = leases.acquire("x/1", "x", "me", 0.3)
    assert mine is not None
    assert leases.acquire("x/1", "x", "you", 0.3) is None
    time.sleep(0.35)
    theirs = leases.acquire("x/1", "x", "you", 5)
    assert theirs is not None and theirs.token == mine.token + 1
    with pytest.raises(LeaseLostError):
        leases.renew(mine, 5)
    assert not leases.still_held(mine)
    assert leases.still_held(theirs)
    assert leases.release(theirs)
    assert leases.acquire("x/1", "x", "me", 5) is not None  # released: free at once


def test_a_paused_worker_that_lost_its_partition_cannot_commit(make_bank):
    bank = make_bank(config={"command_processing": "sync"}, partitions=1, lease_seconds=0.5)
    expected = deposit_many(bank, accounts=3, per_account=4)
    _relay_all(bank)

    paused = _consumer(bank, "paused")
    paused._maintain()  # takes partition 0
    paused._fill()  # reads every event ... and then "freezes"
    assert paused.buffered() == 12
    time.sleep(0.6)  # past its lease

    other = _consumer(bank, "other")
    for _ in range(5):
        other.step()  # takes the partition over, claims the paused worker's entries
    assert check_ledgers(bank, expected) == []

    paused._work()  # wakes up and tries to commit what it read (its partition's run)
    paused._drain()  # ... which ends
    assert paused.handled == 0
    assert paused.parts == {}  # it knows it lost the partition
    assert check_ledgers(bank, expected) == []  # nothing applied twice


def test_a_worker_whose_lease_ran_out_reads_nothing_more_of_the_partition(make_bank):
    """An entry read is delivered to the reader: read after another worker took the partition
    over, it would stay pending for a worker that no longer owns it — never run (the stall of
    the Redis Cluster fault scenario), or run after newer entries once the partition moves."""
    bank = make_bank(config={"command_processing": "sync"}, partitions=1, lease_seconds=0.5)
    slow = _consumer(bank, "slow")
    slow._maintain()  # takes partition 0
    assert sorted(slow.parts) == [0]
    time.sleep(0.6)  # busy past its lease (a long batch, an overloaded machine) ...

    other = _consumer(bank, "other")
    other.step()  # ... so another worker takes the partition over: nothing pending to claim
    assert sorted(other.parts) == [0]
    expected = deposit_many(bank, accounts=3, per_account=4)
    _relay_all(bank)

    slow._fill()  # the slow worker reads on before it notices the loss
    assert slow.buffered() == 0
    for _ in range(5):
        other.step()
    assert check_ledgers(bank, expected) == []  # the new owner got every entry
    slow.step()
    assert slow.parts == {}  # and the slow one knows it lost the partition


def test_a_lease_is_read_under_only_while_a_quarter_of_it_is_left(make_bank):
    bank = make_bank(config={"command_processing": "sync"}, partitions=2, lease_seconds=2.0)
    consumer = _consumer(bank, "me")
    consumer._maintain()
    assert sorted(consumer.parts) == [0, 1]
    readable, block_ms = consumer._readable()
    assert readable == [0, 1] and 0 < block_ms <= consumer.settings.blocking_timeout_ms
    consumer.ownership.owned[1].expires_at = time.time() + 0.6  # 0.1 s more than a quarter
    readable, block_ms = consumer._readable()
    assert readable == [0, 1] and block_ms <= 100  # a read blocks no longer than that
    consumer.ownership.owned[1].expires_at = time.time() + 0.4
    assert consumer._readable()[0] == [0]
    consumer._maintain()  # renews it
    assert consumer._readable()[0] == [0, 1]


def test_crash_between_publish_and_mark_sent_republishes_and_consumers_dedupe(make_bank, monkeypatch):
    bank = make_bank(partitions=1, lease_seconds=0.5)
    expected = deposit_many(bank, accounts=2, per_account=5)
    settings = EngineSettings.from_config(bank.config)
    outbox = bank.providers.database("default").outbox()

    def crash(ids, worker):  # the process dies before its mark reaches the database
        return 0

    relay = OutboxRelay(bank, bank.brokers["default"], LeaseStore(bank), settings, "crashing")
    monkeypatch.setattr(outbox, "mark_sent", crash)
    assert relay.tick() == 10
    relay.flush()
    monkeypatch.undo()  # ... and never releases its leadership
    stream = f"{bank.snake_name}::account:command"
    assert bank.brokers["default"].length(stream) == 10
    assert outbox.pending_count() == 10  # still pending: the relay "died"

    time.sleep(0.6)  # its leadership and row leases expire
    assert run_server(bank, test_mode=True) == 0
    assert bank.brokers["default"].length(stream) == 20  # published twice
    assert check_ledgers(bank, expected) == []
    account = bank.elements["Account"]
    with bank.domain_context():
        assert bank.repository_for(account).get("acc-0").deposits == 5  # commands ran once


def test_only_one_relay_leads_a_database(make_bank):
    bank = make_bank(lease_seconds=5)
    settings = EngineSettings.from_config(bank.config)
    leases = LeaseStore(bank)
    deposit_many(bank, accounts=1, per_account=3)
    first = OutboxRelay(bank, bank.brokers["default"], leases, settings, "first")
    second = OutboxRelay(bank, bank.brokers["default"], leases, settings, "second")
    assert second.tick() == 3 or first.tick() == 3
    deposit_many(bank, accounts=1, per_account=2)
    moved = first.tick() + second.tick()
    assert moved == 2
    assert (first.relayed == 0) != (second.relayed == 0)  # one of them did all the work


class _Recording:
    """The broker, noting which relay published each message's stream."""

    def __init__(self, broker, relay: str, published: dict[str, set[str]]) -> None:
        self._broker, self._relay, self._published = broker, relay, published

    def __getattr__(self, name):
        return getattr(self._broker, name)

    def publish_many(self, entries):
        for _, payload in entries:
            self._published.setdefault(payload["metadata"]["stream"], set()).add(self._relay)
        return self._broker.publish_many(entries)


def test_relays_of_two_workers_share_the_outbox_and_each_aggregate_stays_with_one(make_bank):
    bank = make_bank(config={"command_processing": "sync"}, lease_seconds=5, relay_shards=4)
    settings = EngineSettings.from_config(bank.config)
    leases = LeaseStore(bank)
    published: dict[str, set[str]] = {}
    relays = []
    for name in ("first", "second"):
        membership = Membership(leases, bank, name, settings.lease_seconds)
        membership.heartbeat()
        broker = _Recording(bank.brokers["default"], name, published)
        relays.append(OutboxRelay(bank, broker, leases, settings, name, membership=membership))
    expected = deposit_many(bank, accounts=12, per_account=3)
    for _ in range(3):
        for relay in relays:
            relay.tick()
            relay.flush()
    assert [len(relay._owned["default"]) for relay in relays] == [2, 2]
    assert relays[0].relayed and relays[1].relayed  # both did part of the work
    assert relays[0].relayed + relays[1].relayed == 36  # and nothing twice
    assert all(len(who) == 1 for who in published.values())  # one relay per aggregate
    assert bank.providers.database("default").outbox().pending_count() == 0
    for relay in relays:
        relay.release()
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, expected) == []


def test_a_failed_publish_never_lets_newer_rows_overtake_the_failed_ones(make_bank, monkeypatch):
    """Publishing fails, and so does giving the rows back (the database is away too).

    The rows claimed ahead and the failed ones are given back before anything
    newer is claimed, so every aggregate's messages reach the broker in order.
    """
    bank = make_bank(config={"command_processing": "sync"}, relay_batch_size=4, relay_shards=1)
    deposit_many(bank, accounts=3, per_account=8)
    settings = EngineSettings.from_config(bank.config)
    outbox = bank.providers.database("default").outbox()
    broker = bank.brokers["default"]
    first_seen: dict[str, list[int]] = {}
    calls = {"publish": 0, "release": 0}
    publish_many, release = broker.publish_many, outbox.release

    def flaky_publish(entries):
        calls["publish"] += 1
        if calls["publish"] == 2:
            raise BrokerUnavailable("connection reset (simulated)")
        for _, payload in entries:
            seqs = first_seen.setdefault(payload["metadata"]["stream"], [])
            seq = payload["data"]["seq"]
            if seq not in seqs:
                seqs.append(seq)
        return publish_many(entries)

    def flaky_release(ids, worker, error=None, failed=False):
        calls["release"] += 1
        if calls["release"] <= 2:
            raise DatabaseUnavailable("the database went away (simulated)")
        return release(ids, worker, error=error, failed=failed)

    monkeypatch.setattr(broker, "publish_many", flaky_publish)
    monkeypatch.setattr(outbox, "release", flaky_release)
    monkeypatch.setattr(bank.providers.database("default"), "outbox", lambda: outbox)
    relay = OutboxRelay(bank, broker, LeaseStore(bank), settings, "relay")
    for _ in range(40):
        try:
            relay.tick()
        except (BrokerUnavailable, DatabaseUnavailable):
            pass
        relay.flush()
        if not outbox.pending_count():
            break
    assert first_seen and all(seqs == list(range(1, 9)) for seqs in first_seen.values()), first_seen
    assert outbox.pending_count() == 0
    assert calls["publish"] > 2 and calls["release"] > 2  # the faults happened


def test_a_claim_whose_reply_was_lost_never_lets_newer_rows_overtake(make_bank, monkeypatch):
    """The claim went through, then the connection dropped: its rows are leased to us, unknown."""
    bank = make_bank(config={"command_processing": "sync"}, relay_batch_size=4, relay_shards=1)
    expected = deposit_many(bank, accounts=2, per_account=3)
    settings = EngineSettings.from_config(bank.config)
    outbox = bank.providers.database("default").outbox()
    broker = bank.brokers["default"]
    first_seen: dict[str, list[int]] = {}
    claim, publish_many = outbox.claim, broker.publish_many
    lost = []

    def losing_claim(*args, **kwargs):
        rows = claim(*args, **kwargs)
        if not lost and rows:
            lost.append([row["id"] for row in rows])
            raise DatabaseUnavailable("connection reset while reading the reply (simulated)")
        return rows

    def recording(entries):
        for _, payload in entries:
            seqs = first_seen.setdefault(payload["metadata"]["stream"], [])
            if payload["data"]["seq"] not in seqs:
                seqs.append(payload["data"]["seq"])
        return publish_many(entries)

    monkeypatch.setattr(outbox, "claim", losing_claim)
    monkeypatch.setattr(broker, "publish_many", recording)
    monkeypatch.setattr(bank.providers.database("default"), "outbox", lambda: outbox)
    relay = OutboxRelay(bank, broker, LeaseStore(bank), settings, "relay")
    for _ in range(20):
        try:
            relay.tick()
        except DatabaseUnavailable:
            pass
        relay.flush()
        if not outbox.pending_count():
            break
    assert lost  # a claim's reply was lost ...
    assert first_seen and all(seqs == [1, 2, 3] for seqs in first_seen.values()), first_seen  # ... yet in order
    assert outbox.pending_count() == 0
    relay.release()
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, expected) == []


def test_taken_over_entries_running_longer_than_a_lease_keep_the_other_partitions(make_bank):
    """Entries taken over run one at a time, inside maintenance: the leases of the partitions
    waiting meanwhile are renewed between them, or another worker would take those over."""
    bank = make_bank(config={"command_processing": "sync"}, partitions=2, lease_seconds=1.0)
    expected = deposit_many(bank, accounts=6, per_account=4)
    _relay_all(bank)
    dead = _consumer(bank, "dead")
    dead._maintain()
    dead._fill()  # reads everything, then dies: every entry was delivered once
    assert dead.buffered() == 24
    time.sleep(1.1)

    BEHAVIOUR["delay"] = 0.1  # 24 entries alone: well over a lease
    heir = _consumer(bank, "heir")
    stolen: list[int] = []
    done = threading.Event()

    def thief() -> None:  # another worker, taking whatever partition lease expires
        leases = LeaseStore(bank)
        while len(heir.ownership.owned) < 2 and not done.is_set():
            time.sleep(0.005)  # from the moment the heir holds both
        with bank.domain_context():
            while not done.is_set():
                for partition in (0, 1):
                    lease_id = heir.ownership.lease_id(partition)
                    if leases.acquire(lease_id, heir.ownership.scope, "thief", 1.0) is not None:
                        stolen.append(partition)
                        return
                time.sleep(0.02)

    with bank.domain_context():
        running = threading.Thread(target=thief)
        running.start()
        try:
            heir._maintain()  # takes both partitions over and runs what was taken over
        finally:
            done.set()
            running.join()
    assert stolen == []
    assert sorted(heir.parts) == [0, 1]
    BEHAVIOUR["delay"] = 0.0
    for _ in range(5):
        heir.step()
    assert check_ledgers(bank, expected) == []


@pytest.mark.parametrize("relay_shards", [1, 4])
def test_a_shard_taken_over_is_relayed_only_once_the_former_owner_holds_none_of_its_rows(
    make_bank, monkeypatch, relay_shards
):
    """A former owner of the shard still holds its oldest row (its row lease reached the
    database after its shard lease was judged, or its give-back is in flight): the new owner
    relays nothing of the shard meanwhile — newer rows of that aggregate would reach the
    broker first, and alone if the first copy is lost with a broker node — then all in order."""
    bank = make_bank(config={"command_processing": "sync"}, relay_shards=relay_shards)
    deposit_many(bank, accounts=1, per_account=5)
    settings = EngineSettings.from_config(bank.config)
    outbox = bank.providers.database("default").outbox()
    monkeypatch.setattr(bank.providers.database("default"), "outbox", lambda: outbox)
    broker = bank.brokers["default"]
    seen: list[int] = []
    publish_many = broker.publish_many

    def publish(entries):
        seen.extend(payload["data"]["seq"] for _, payload in entries)
        return publish_many(entries)

    monkeypatch.setattr(broker, "publish_many", publish)
    (held,) = outbox.claim("former-owner", limit=1, lease_seconds=60)
    relay = OutboxRelay(bank, broker, LeaseStore(bank), settings, "new-owner")
    assert relay.tick() == 0 and seen == []
    assert relay.idle_seconds(0.25) == 0.25  # it looks again after a poll: no commit rings for this
    outbox.release([held["id"]], "former-owner")
    while relay.tick():
        relay.flush()
    relay.flush()
    assert seen == [1, 2, 3, 4, 5]
