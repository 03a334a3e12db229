"""Steps interrupted by broker errors (a Redis master dying): per-key order survives them.

- A consumer runs the partitions it owns in parallel threads. When one of them
  fails (here: its acknowledgement), the step fails — and it must not do so
  while another partition's run is still going: that run, left behind, would
  race the consumer's next run of the same partition on the same queue, and
  entries read in between could drop out of memory, to come back later
  (recovered from the broker) behind newer ones: applied out of order, or never.
  In the consumer's loop, where runs go on across turns, the failure is raised
  at once, and the other partition gets no second run before its first ends.
- Entries taken over from a dead owner run first, alone, one at a time, while
  only one consumer of the process does so. When that run is interrupted and
  the next step finds another consumer of the process taking over, newer
  entries of *their* aggregates must still wait for them; and they never overtake
  an earlier entry of their aggregate that runs the ordinary way.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from archipel.engine import EngineSettings
from archipel.engine import consumer as consumer_module
from archipel.engine.consumer import Consumer
from archipel.engine.dlq import DeadLetterStore
from archipel.engine.lanes import PRODUCTION
from archipel.engine.leases import LeaseStore
from archipel.engine.ownership import Membership
from archipel.engine.streams import parse_broker_stream
from archipel.engine.subscriptions import active_subscriptions
from archipel.errors import BrokerUnavailable
from tests.engine.bank import check_ledgers
from tests.engine.conftest import deposit_many
from tests.engine.test_fencing_and_relay import _relay_all


class Scene:
    """A bank whose deposits wait on the broker, and consumers of its projector to make."""

    def __init__(
        self, make_bank: Any, provider: str, request: Any, *, partitions: int, accounts: int,
        per_account: int, lease_seconds: float | None = None,
    ) -> None:
        config: dict[str, Any] = {"command_processing": "sync"}
        if provider == "redis":
            config["brokers"] = {"default": {"provider": "redis", "URI": request.getfixturevalue("redis_flushed_url")}}
        options: dict[str, Any] = {"partitions": partitions, "messages_per_tick": 5, "read_ahead": 1}
        if lease_seconds is not None:
            options["lease_seconds"] = lease_seconds
        self.bank = make_bank(config=config, **options)
        self.expected = deposit_many(self.bank, accounts=accounts, per_account=per_account)
        _relay_all(self.bank)
        self.settings = EngineSettings.from_config(self.bank.config)
        self.leases = LeaseStore(self.bank)
        self.sub = next(s for s in active_subscriptions(self.bank) if s.kind == "projector")

    def consumer(self, name: str, stop: threading.Event, broker: Any = None) -> Consumer:
        """A consumer ``name`` of the projector (on ``broker``, the bank's own by default)."""
        bank = self.bank
        membership = Membership(self.leases, bank, name, self.settings.lease_seconds)
        return Consumer(
            bank, self.sub, broker if broker is not None else bank.brokers["default"], self.leases,
            DeadLetterStore(bank), membership, self.settings, name, stop,
        )

    def reader_that_dies(self) -> None:
        """A consumer that owns the partition, reads the oldest entries of both accounts
        (five) and dies before handling them; returns once its lease has expired."""
        dead = self.consumer("dead", threading.Event())
        with self.bank.domain_context():
            dead._maintain()
            dead._fill()
        assert dead.buffered() == 5
        time.sleep(self.settings.lease_seconds * 1.2)  # its lease expires

    def run_until_complete(self, consumer: Consumer, stop: threading.Event, seconds: float = 20) -> None:
        """Run ``consumer`` in its loop until every deposit is in the ledgers (or ``seconds``
        passed: the test's own check then says what is missing), then stop it."""
        thread = threading.Thread(target=lambda: _run(self.bank, consumer))
        thread.start()
        try:
            give_up = time.monotonic() + seconds
            while check_ledgers(self.bank, self.expected) and time.monotonic() < give_up:
                time.sleep(0.02)
        finally:
            stop.set()
            thread.join(10)


class SlowAndFailingAcks:
    """The broker, except for the first acknowledgement of two partitions.

    Partition ``fail``'s fails at once (the connection was refused); partition
    ``slow``'s takes ``hold`` seconds (a client retrying against a master that is
    failing over) and then goes through.
    """

    def __init__(self, broker: Any, fail: int, slow: int, hold: float) -> None:
        self._broker = broker
        self.fail, self.slow, self.hold = fail, slow, hold
        self.failed = False
        self._held = False
        self.slow_ack_returned = threading.Event()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def ack(self, group: str, ids_by_stream: Any) -> int:
        partitions = {parse_broker_stream(stream)[1] for stream in ids_by_stream}
        with self._lock:
            fail = self.fail in partitions and not self.failed
            hold = self.slow in partitions and not self._held
            self.failed = self.failed or fail
            self._held = self._held or hold
        if fail:
            raise BrokerUnavailable("connection refused while acknowledging (simulated)")
        if not hold:
            return int(self._broker.ack(group, ids_by_stream))
        time.sleep(self.hold)
        try:
            return int(self._broker.ack(group, ids_by_stream))
        finally:
            self.slow_ack_returned.set()


@pytest.mark.parametrize("provider", ["inline", "redis"])
def test_a_failing_partition_run_fails_the_step_only_once_every_run_has_ended(make_bank, provider, request):
    scene = Scene(make_bank, provider, request, partitions=2, accounts=6, per_account=12)
    bank, expected = scene.bank, scene.expected
    broker = SlowAndFailingAcks(bank.brokers["default"], fail=0, slow=1, hold=1.0)
    settings, sub = scene.settings, scene.sub
    stop = threading.Event()
    consumer = scene.consumer("w", stop, broker)
    with bank.domain_context():
        with pytest.raises(BrokerUnavailable):
            for _ in range(20):
                consumer.step()
        assert broker.failed
        # the other partition, run in the same step, had finished (its slow acknowledgement
        # included) when the step failed: nothing of the step runs behind the consumer's back
        assert broker.slow_ack_returned.is_set()

    scene.run_until_complete(consumer, stop)
    assert check_ledgers(bank, expected) == []  # nothing lost, doubled or reordered
    for stream in sub.broker_streams(settings):
        assert bank.brokers["default"].pending(stream, sub.name) == 0


def _run(bank: Any, consumer: Consumer) -> None:
    with bank.domain_context():
        consumer.run()


class FailingFirstAck:
    """The broker, except that the first acknowledgement fails (the connection was refused)."""

    def __init__(self, broker: Any) -> None:
        self._broker = broker
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def ack(self, group: str, ids_by_stream: Any) -> int:
        if not self.failed:
            self.failed = True
            raise BrokerUnavailable("connection refused while acknowledging (simulated)")
        return int(self._broker.ack(group, ids_by_stream))


@pytest.mark.parametrize("provider", ["inline", "redis"])
def test_entries_taken_over_run_before_newer_ones_of_their_aggregate_when_their_run_was_interrupted(
    make_bank, provider, request
):
    scene = Scene(make_bank, provider, request, partitions=1, lease_seconds=0.5, accounts=2, per_account=10)
    bank, expected = scene.bank, scene.expected

    consumer = scene.consumer
    scene.reader_that_dies()

    broker = FailingFirstAck(bank.brokers["default"])
    stop = threading.Event()
    heir = consumer("heir", stop, broker)
    with bank.domain_context():
        with pytest.raises(BrokerUnavailable):
            heir.step()  # takes the partition over, runs the first entry taken over; its ack fails
        # meanwhile another consumer of this process takes partitions over (one at a time per
        # process): the heir cannot run the rest of what it took over yet, and reads on
        with consumer_module._TAKEOVER:
            for _ in range(5):
                heir.step()
    scene.run_until_complete(heir, stop)
    assert broker.failed
    assert check_ledgers(bank, expected) == []  # the dead one's entries ran first, in order


@pytest.mark.parametrize("provider", ["inline", "redis"])
def test_a_consumer_whose_lease_ran_out_reads_nothing_more_of_the_partition(make_bank, provider, request):
    """Busy past its lease (an outage), a consumer must not read on before its maintenance
    notices: what it read after another worker took the partition over would stay pending
    for it — the new owner claimed what was pending before — stuck, or run after newer
    entries once the partition moves again."""
    scene = Scene(make_bank, provider, request, partitions=1, lease_seconds=0.5, accounts=2, per_account=10)
    bank, expected = scene.bank, scene.expected

    consumer = scene.consumer
    slow = consumer("slow", threading.Event())
    with bank.domain_context():
        slow.step()  # owns the partition, reads and handles the oldest entries
    handled = slow.handled
    assert handled > 0
    time.sleep(0.6)  # ... then is busy elsewhere past its lease

    stop = threading.Event()
    heir = consumer("heir", stop)
    with bank.domain_context():
        heir.step()  # takes the partition over
        slow._fill()  # the slow one reads on before its maintenance tells it the partition is gone
        slow._work()  # (its commits are refused: fenced)
    assert slow.handled == handled
    scene.run_until_complete(heir, stop)
    assert check_ledgers(bank, expected) == []  # nothing stuck with the slow one, nothing reordered


@pytest.mark.parametrize("provider", ["inline", "redis"])
def test_an_entry_taken_over_never_overtakes_an_earlier_entry_of_its_aggregate_that_runs_the_ordinary_way(
    make_bank, provider, request
):
    """Taken-over entries run alone, first (``takeover_run``), skipping the entries that run
    the ordinary way (in a partition's run). One of those ahead of them in the queue — here
    the oldest entry, failed once and waiting for its retry — still holds back the taken-over
    entries of its aggregate: they run after it, never before."""
    scene = Scene(make_bank, provider, request, partitions=1, lease_seconds=0.5, accounts=2, per_account=10)
    bank, expected = scene.bank, scene.expected

    consumer = scene.consumer
    scene.reader_that_dies()

    stop = threading.Event()
    heir = consumer("heir", stop)
    with bank.domain_context():
        assert heir.ownership.acquire_missing() == [0]
        heir._adopt(0)  # claims the dead one's entries: they run alone, first
        queue = heir.parts[0].queues[PRODUCTION]
        assert len(queue) == 5 and all(item.deliveries for item in queue)
        oldest = queue[0]
        # the oldest runs the ordinary way and waits for its retry
        oldest.deliveries, oldest.attempts, oldest.next_at = 0, 1, time.monotonic() + 3600
        heir._run_taken_over()
        assert oldest in queue and not oldest.done
    oldest.next_at = 0.0  # its retry is due
    scene.run_until_complete(heir, stop)
    assert check_ledgers(bank, expected) == []  # the oldest entry of its account ran first


@pytest.mark.parametrize("provider", ["inline", "redis"])
def test_a_failing_partition_run_leaves_no_run_of_another_partition_racing_its_next_one(
    make_bank, provider, request
):
    """The same outage in the consumer's loop (``run``), where partitions' runs go on in their
    own threads across turns: the failure is raised while the other partition's run is still
    in its slow acknowledgement, and that partition gets no second run on the same queue
    before the first one has ended."""
    scene = Scene(make_bank, provider, request, partitions=2, accounts=6, per_account=12)
    bank, expected = scene.bank, scene.expected
    broker = SlowAndFailingAcks(bank.brokers["default"], fail=0, slow=1, hold=1.0)
    settings, sub = scene.settings, scene.sub
    stop = threading.Event()
    consumer = scene.consumer("w", stop, broker)
    running: dict[int, int] = {}
    overlaps: list[int] = []
    lock = threading.Lock()
    run_partition = consumer.runner.run_partition

    def watched(part: Any) -> int:  # the runs of each partition's queue, as they go on
        with lock:
            running[id(part.queues)] = running.get(id(part.queues), 0) + 1
            if running[id(part.queues)] > 1:
                overlaps.append(part.number)
        try:
            return run_partition(part)
        finally:
            with lock:
                running[id(part.queues)] -= 1

    consumer.runner.run_partition = watched  # type: ignore[method-assign]
    scene.run_until_complete(consumer, stop)
    assert broker.failed and broker.slow_ack_returned.is_set()
    assert overlaps == []
    assert check_ledgers(bank, expected) == []  # nothing lost, doubled or reordered
    for stream in sub.broker_streams(settings):
        assert bank.brokers["default"].pending(stream, sub.name) == 0
