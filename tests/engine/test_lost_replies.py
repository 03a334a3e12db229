"""A read the broker carried out but whose reply was lost: the entries must not be stranded.

Redis (or the database) can deliver entries — and persist that they are
pending for this consumer — then lose the connection before the reply
arrives. The consumer still holds the partition, so nobody else claims them:
it has to take them back itself, before reading on, keeping per-aggregate order.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from archipel.engine import EngineSettings
from archipel.engine.consumer import Consumer
from archipel.engine.dlq import DeadLetterStore
from archipel.engine.leases import LeaseStore
from archipel.engine.ownership import Membership
from archipel.engine.subscriptions import active_subscriptions
from archipel.errors import BrokerUnavailable
from tests.engine.bank import check_ledgers
from tests.engine.conftest import deposit_many
from tests.engine.test_fencing_and_relay import _relay_all


class LosingReplies:
    """The broker, except that the replies of some reads that delivered entries are lost."""

    def __init__(self, broker: Any, lose: int) -> None:
        self._broker = broker
        self.lose = lose
        self.lost: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def read(self, *args: Any, **kwargs: Any) -> list[Any]:
        got = self._broker.read(*args, **kwargs)
        if got and self.lose:
            self.lose -= 1
            self.lost += [entry.id for entry in got]
            raise BrokerUnavailable("connection reset while reading the reply (simulated)")
        return got


@pytest.mark.parametrize("provider", ["inline", "redis"])
def test_entries_of_a_read_whose_reply_was_lost_are_handled_in_order(make_bank, provider, request):
    config: dict[str, Any] = {"command_processing": "sync"}
    if provider == "redis":
        config["brokers"] = {"default": {"provider": "redis", "URI": request.getfixturevalue("redis_flushed_url")}}
    bank = make_bank(config=config, partitions=2, messages_per_tick=5, read_ahead=1)
    expected = deposit_many(bank, accounts=4, per_account=10)
    _relay_all(bank)
    broker = LosingReplies(bank.brokers["default"], lose=3)
    settings = EngineSettings.from_config(bank.config)
    leases = LeaseStore(bank)
    sub = next(s for s in active_subscriptions(bank) if s.kind == "projector")
    stop = threading.Event()
    consumer = Consumer(
        bank, sub, broker, leases, DeadLetterStore(bank), Membership(leases, bank, "w", settings.lease_seconds),
        settings, "w", stop,
    )
    thread = threading.Thread(target=lambda: _run(bank, consumer))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while check_ledgers(bank, expected) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(10)
    assert broker.lose == 0 and broker.lost  # replies were lost ...
    assert check_ledgers(bank, expected) == []  # ... and still nothing lost, doubled or reordered
    for stream in sub.broker_streams(settings):
        assert bank.brokers["default"].pending(stream, sub.name) == 0


def _run(bank: Any, consumer: Consumer) -> None:
    with bank.domain_context():
        consumer.run()


class FailingFirstClaim:
    """The broker, except that the first takeover claim fails (the broker went away)."""

    def __init__(self, broker: Any) -> None:
        self._broker = broker
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def claim_stale(self, *args: Any, **kwargs: Any) -> list[Any]:
        if not self.failed:
            self.failed = True
            raise BrokerUnavailable("connection refused (simulated)")
        return self._broker.claim_stale(*args, **kwargs)


def test_a_takeover_whose_claim_failed_is_redone_before_anything_newer_runs(make_bank):
    bank = make_bank(config={"command_processing": "sync"}, partitions=1, lease_seconds=0.5, messages_per_tick=5, read_ahead=1)
    expected = deposit_many(bank, accounts=2, per_account=10)
    _relay_all(bank)
    settings = EngineSettings.from_config(bank.config)
    leases = LeaseStore(bank)
    sub = next(s for s in active_subscriptions(bank) if s.kind == "projector")

    def consumer(name: str, broker: Any, stop: threading.Event) -> Consumer:
        membership = Membership(leases, bank, name, settings.lease_seconds)
        return Consumer(bank, sub, broker, leases, DeadLetterStore(bank), membership, settings, name, stop)

    dead = consumer("dead", bank.brokers["default"], threading.Event())
    with bank.domain_context():
        dead._maintain()
        dead._fill()  # reads the oldest entries ... and dies before handling them
    assert dead.buffered() == 5
    time.sleep(0.6)  # its lease expires

    broker = FailingFirstClaim(bank.brokers["default"])
    stop = threading.Event()
    heir = consumer("heir", broker, stop)
    thread = threading.Thread(target=lambda: _run(bank, heir))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while check_ledgers(bank, expected) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(10)
    assert broker.failed
    assert check_ledgers(bank, expected) == []  # the dead one's entries ran first, in order


@pytest.mark.parametrize(("tick", "read_ahead", "read"), [(1, 8, 8), (5, 1, 5), (12, 8, 12)])
def test_a_consumer_reads_at_least_read_ahead_entries_per_partition_whatever_its_batch(
    make_bank, tick, read_ahead, read
):
    # one commit per message (messages_per_tick = 1) must not mean one broker read per message
    bank = make_bank(config={"command_processing": "sync"}, partitions=1, messages_per_tick=tick,
                     read_ahead=read_ahead)
    deposit_many(bank, accounts=2, per_account=10)
    _relay_all(bank)
    settings = EngineSettings.from_config(bank.config)
    leases = LeaseStore(bank)
    sub = next(s for s in active_subscriptions(bank) if s.kind == "projector")
    membership = Membership(leases, bank, "reader", settings.lease_seconds)
    reader = Consumer(bank, sub, bank.brokers["default"], leases, DeadLetterStore(bank), membership, settings,
                      "reader", threading.Event())
    with bank.domain_context():
        reader._maintain()
        reader._fill()
        assert reader.buffered() == read
        reader.shutdown()
