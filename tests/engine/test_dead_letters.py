"""Retries with backoff, the dead-letter queue, parking behind a dead letter, replay."""

from __future__ import annotations

import datetime as dt
import logging
import threading

from archipel.engine import EngineSettings, run_server
from archipel.engine.consumer import Consumer
from archipel.engine.dlq import DeadLetterStore, dead_letter_store
from archipel.engine.leases import LeaseStore
from archipel.engine.ownership import Membership
from archipel.engine.relay import OutboxRelay
from archipel.engine.status import subscription_status
from archipel.engine.subscriptions import active_subscriptions
from tests.engine.bank import BEHAVIOUR, KILLER, WorkerKilled, check_ledgers


def _deposits(bank, rows):
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        for account, amount, seq in rows:
            bank.process(deposit(account_id=account, amount=amount, seq=seq))


def _projector_name(bank) -> str:
    return next(s.name for s in subscription_status(bank) if s.name.endswith("LedgerProjector"))


def test_transient_failure_is_retried_then_dead_lettered_and_others_go_on(make_bank, caplog):
    BEHAVIOUR["transient"] = True  # a TimeoutError: retried with backoff
    bank = make_bank(partitions=2, max_retries=2)
    caplog.set_level(logging.WARNING, logger="archipel.engine.consumer")
    _deposits(bank, [("bad", 1, 1), ("bad", -5, 2), ("good", 1, 1), ("good", 1, 2)])
    assert run_server(bank, test_mode=True) == 0

    assert BEHAVIOUR["failures"] == {2: 3}  # first attempt + max_retries retries
    assert check_ledgers(bank, {"good": [1, 2], "bad": [1]}) == []
    store = dead_letter_store(bank)
    (letter,) = store.list()
    assert letter.subscription == _projector_name(bank)
    assert letter.attempts == 3
    assert "poison deposit 2 of bad" in (letter.error or "")
    assert letter.type == f"{bank.type_prefix}.Deposited.v1"
    assert letter.stream == f"{bank.snake_name}::account-bad"
    assert letter.payload["data"]["seq"] == 2
    assert isinstance(letter.first_failed_at, dt.datetime)
    assert letter.last_failed_at >= letter.first_failed_at
    assert store.get(letter.id) == letter
    status = {s.name: s for s in subscription_status(bank)}
    assert status[letter.subscription].dlq_depth == 1
    # one line per failure, with the decision and the message id
    lines = [r for r in caplog.records if getattr(r, "archipel_subscription", None) == letter.subscription]
    assert [r.archipel_decision for r in lines] == ["retry", "retry", "dead-lettered"]
    assert all(r.archipel_message_id == letter.message_id for r in lines)
    assert "retry 1/2 in" in lines[0].getMessage() and letter.message_id in lines[0].getMessage()
    assert f"dead-lettered as {letter.id} (after 3 attempts)" in lines[2].getMessage()
    assert "TimeoutError: poison deposit 2 of bad" in lines[2].getMessage()


def test_business_errors_are_dead_lettered_at_once_with_their_traceback(make_bank, caplog):
    bank = make_bank(partitions=1, max_retries=5, park_after_dead_letter=False)
    caplog.set_level(logging.WARNING, logger="archipel.engine.consumer")
    _deposits(bank, [("bad", -5, 1), ("ok", 1, 1)])
    assert run_server(bank, test_mode=True) == 0
    assert BEHAVIOUR["failures"] == {1: 1}  # a business error never succeeds later: not retried
    (letter,) = dead_letter_store(bank).list()
    assert letter.attempts == 1
    assert (letter.error or "").startswith("Traceback (most recent call last)")
    assert (letter.error or "").rstrip().endswith("InvalidOperationError: poison deposit 1 of bad")
    (line,) = [r for r in caplog.records if getattr(r, "archipel_decision", None)]
    assert line.archipel_decision == "dead-lettered" and "(not retryable)" in line.getMessage()
    assert check_ledgers(bank, {"ok": [1]}) == []


def test_later_messages_of_the_aggregate_are_parked_and_replay_keeps_order(make_bank):
    BEHAVIOUR["transient"] = True
    bank = make_bank(partitions=1, max_retries=1)
    _deposits(bank, [("bad", 1, 1), ("bad", -5, 2), ("bad", 1, 3), ("bad", 1, 4), ("ok", 1, 1)])
    assert run_server(bank, test_mode=True) == 0
    store = dead_letter_store(bank)
    letters = store.list()
    assert [x.payload["data"]["seq"] for x in letters] == [2, 3, 4]
    assert letters[0].parked_behind is None
    assert all(x.parked_behind == letters[0].id for x in letters[1:])
    assert "parked" in (letters[1].error or "")
    assert check_ledgers(bank, {"bad": [1], "ok": [1]}) == []

    BEHAVIOUR["fixed"] = True  # deploy the fix
    assert store.replay_all() == 3
    assert store.list() == []
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, {"bad": [1, 2, 3, 4], "ok": [1]}) == []
    assert BEHAVIOUR["failures"] == {2: 2}  # handled exactly once after the fix


def test_new_messages_after_replay_are_handled_normally(make_bank):
    bank = make_bank(partitions=1, max_retries=0)
    _deposits(bank, [("bad", -5, 1)])
    assert run_server(bank, test_mode=True) == 0
    store = dead_letter_store(bank)
    (letter,) = store.list()
    BEHAVIOUR["fixed"] = True
    assert store.replay(letter.id) is True
    assert store.replay(letter.id) is False  # gone
    assert run_server(bank, test_mode=True) == 0
    _deposits(bank, [("bad", 1, 2)])
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, {"bad": [1, 2]}) == []
    assert store.list() == []


def test_replay_is_only_for_the_failed_subscription(make_bank):
    bank = make_bank(partitions=1, max_retries=0)
    _deposits(bank, [("bad", -5, 1)])
    assert run_server(bank, test_mode=True) == 0
    account = bank.elements["Account"]
    with bank.domain_context():
        before = bank.repository_for(account).get("bad").deposits
    BEHAVIOUR["fixed"] = True
    assert dead_letter_store(bank).replay_all() == 1
    assert run_server(bank, test_mode=True) == 0
    with bank.domain_context():
        assert bank.repository_for(account).get("bad").deposits == before


def test_purge(make_bank):
    bank = make_bank(partitions=1, max_retries=0, park_after_dead_letter=False)
    _deposits(bank, [("a", -1, 1), ("b", -1, 1), ("a", 1, 2)])
    assert run_server(bank, test_mode=True) == 0
    store = dead_letter_store(bank)
    letters = store.list()
    assert len(letters) == 2
    assert check_ledgers(bank, {"a": [2]}) == []  # not parked: a's seq 2 went through
    assert store.purge(letters[0].id) is True
    assert store.purge(letters[0].id) is False
    assert store.purge_all(subscription="no.such.Subscription") == 0
    assert store.purge_all(subscription=letters[1].subscription) == 1
    assert store.list() == []


def test_without_dlq_a_failed_message_is_dropped_after_retries(make_bank):
    bank = make_bank(partitions=1, max_retries=1, enable_dlq=False)
    _deposits(bank, [("a", -1, 1), ("a", 1, 2)])
    assert run_server(bank, test_mode=True) == 0
    assert dead_letter_store(bank).list() == []
    assert check_ledgers(bank, {"a": [2]}) == []


def test_a_message_that_kills_its_worker_is_dead_lettered_after_too_many_takeovers(make_bank):
    """Retry counts die with the worker: the broker's delivery count stops the crash loop."""
    bank = make_bank(config={"command_processing": "sync"}, partitions=1, max_retries=2)
    _deposits(bank, [("bad", 1, 1), ("bad", KILLER, 2), ("bad", 1, 3), ("good", 1, 1), ("good", 1, 2)])
    settings = EngineSettings.from_config(bank.config)
    leases = LeaseStore(bank)
    relay = OutboxRelay(bank, bank.brokers["default"], leases, settings, "relay")
    while relay.tick():
        pass
    relay.release()
    sub = next(s for s in active_subscriptions(bank) if s.kind == "projector")

    deaths = 0
    for n in range(10):
        worker = f"worker-{n}"
        consumer = Consumer(
            bank, sub, bank.brokers["default"], leases, DeadLetterStore(bank),
            Membership(leases, bank, worker, settings.lease_seconds), settings, worker, threading.Event(),
        )
        try:
            with bank.domain_context():
                for _ in range(5):
                    consumer.step()
        except WorkerKilled:
            deaths += 1
            consumer.ownership.release_all()  # its leases expire; its entries stay pending
            continue
        consumer.shutdown()
        break

    assert deaths == 3  # the first delivery and max_retries takeovers
    assert check_ledgers(bank, {"bad": [1], "good": [1, 2]}) == []  # nobody else lost or doubled
    letters = dead_letter_store(bank).list()
    assert [x.payload["data"]["seq"] for x in letters] == [2, 3]
    killer, parked = letters
    assert killer.attempts == 3
    assert "died 3 times (delivered 4 times): dead-lettered without running it again" in (killer.error or "")
    assert parked.parked_behind == killer.id
    assert bank.brokers["default"].pending(killer.broker_stream, sub.name) == 0  # all acknowledged


def test_only_the_message_running_when_a_worker_died_is_blamed_whoever_takes_over(make_bank):
    """The dead worker's partitions go to different workers: innocents must not be dead-lettered.

    Entries that merely sat in a dead worker's buffers were delivered as often
    as the killer; the crash marks tell which one was running.
    """
    from archipel.engine.streams import partition_of

    bank = make_bank(config={"command_processing": "sync"}, partitions=2, max_retries=1)
    stream = f"{bank.snake_name}::account-"
    bad = next(f"bad{n}" for n in range(100) if partition_of(stream + f"bad{n}", 2) == 0)
    innocents = [f"ok{n}" for n in range(100) if partition_of(stream + f"ok{n}", 2) == 1][:3]
    _deposits(bank, [(bad, KILLER, 1)] + [(name, 1, seq) for name in innocents for seq in (1, 2)])
    settings = EngineSettings.from_config(bank.config)
    leases = LeaseStore(bank)
    relay = OutboxRelay(bank, bank.brokers["default"], leases, settings, "relay")
    while relay.tick():
        pass
    relay.release()
    sub = next(s for s in active_subscriptions(bank) if s.kind == "projector")

    def consumer(name: str) -> Consumer:
        return Consumer(
            bank, sub, bank.brokers["default"], leases, DeadLetterStore(bank),
            Membership(leases, bank, name, settings.lease_seconds), settings, name, threading.Event(),
        )

    def run(worker: Consumer, steps: int = 5) -> bool:
        """Step; False if the worker was killed (its leases then lapse, its entries stay pending)."""
        try:
            with bank.domain_context():
                for _ in range(steps):
                    worker.step()
        except WorkerKilled:
            worker.ownership.release_all()
            return False
        return True

    first = consumer("first")
    with bank.domain_context():
        first._maintain()
        first._fill()  # reads every entry of both partitions ... and dies
    first.ownership.release_all()
    assert not run(consumer("second"))  # takes both over, runs the killer alone first: dies
    # the partitions go to different workers: one takes the innocents' partition only
    placeholder = leases.acquire(f"{bank.snake_name}/partition/{sub.name}/0", f"{bank.snake_name}/partition/{sub.name}", "other", 60)
    assert placeholder is not None
    third = consumer("third")
    assert run(third)
    assert set(third.ownership.owned) == {1}
    assert dead_letter_store(bank).list() == []  # delivered 3 times, yet innocent
    assert check_ledgers(bank, {name: [1, 2] for name in innocents}) == []
    leases.release(placeholder)
    third.shutdown()
    assert not run(consumer("fourth"))  # the killer runs once more: a second death while running it
    assert run(consumer("fifth"))
    (letter,) = dead_letter_store(bank).list()
    assert letter.payload["data"]["account_id"] == bad
    assert "died 3 times" in (letter.error or "")
