"""Fault injection with real worker processes, PostgreSQL and Redis.

Each scenario ends with the invariant checker (:meth:`Cluster.check`):
every deposit handled once, in order per account, nothing left behind.
The long ones are marked ``slow``; the unmarked ones are a fast
representative subset for every CI run.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis

from archipel.engine.dlq import dead_letter_store
from tests._servers import RedisServer
from tests.engine.bank import KILLER, check_ledgers

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(180)]


def _pending(cluster, group_suffix: str) -> int:
    """Entries read and not acknowledged, over every stream of the subscription's group."""
    client = redis.Redis.from_url(cluster.config["brokers"]["default"]["URI"])
    total = 0
    for key in client.scan_iter(_type="stream"):
        for group in client.xinfo_groups(key):
            if group["name"].decode().endswith(group_suffix):
                total += int(group["pending"])
    client.close()
    return total


@pytest.mark.parametrize("broker", ["redis", "database"])
def test_kill_9_mid_batch_then_restart(make_cluster, broker):
    cluster = make_cluster(broker={"provider": "database"} if broker == "database" else None)
    worker = cluster.start_worker(ARCHIPEL_TEST_DELAY="0.004")
    cluster.deposit_many(accounts=20, per_account=15)
    cluster.wait_for(lambda: cluster.ledger_count() > 60, 60, "some progress")
    worker.kill()  # kill -9 in the middle of a batch
    assert cluster.ledger_count() < cluster.total()
    cluster.start_worker()  # takes the partitions over once the dead worker's leases expire
    cluster.wait_until_complete(60)
    cluster.check()


def test_crash_between_broker_publish_and_outbox_mark_sent(make_cluster):
    cluster = make_cluster()
    cluster.deposit_many(accounts=10, per_account=5)
    crashing = cluster.start_worker(ARCHIPEL_TEST_CRASH_AFTER_PUBLISH="1")
    assert crashing.proc.wait(60) == 9, crashing.output()[-2000:]
    assert "crashing after publishing" in crashing.output()
    # the published commands are on Redis, yet their outbox rows are still pending
    assert cluster.bank.providers.database("default").outbox().pending_count() > 0
    cluster.start_worker()  # relays them again: consumers drop the copies
    cluster.wait_until_complete(60)
    cluster.check()


def test_poison_message_retries_dlq_fix_and_replay(make_cluster, tmp_path: Path):
    fix = tmp_path / "fixed"
    cluster = make_cluster(max_retries=2, retry_delay_seconds=0.05)
    # a transient error (TimeoutError): retried with backoff before the dead-letter queue
    worker = cluster.start_worker(ARCHIPEL_TEST_FIX_FILE=str(fix), ARCHIPEL_TEST_TRANSIENT="1")
    cluster.deposit("poisoned", 1)
    cluster.deposit("poisoned", -5)  # the projector raises for this one until the fix
    cluster.deposit("poisoned", 1)  # parked behind it: order is kept
    cluster.deposit_many(accounts=3, per_account=4)
    store = dead_letter_store(cluster.bank)
    cluster.wait_for(lambda: len(store.list()) == 2, 60, "the dead letter and the parked one")
    cluster.wait_for(lambda: cluster.ledger_count() == cluster.total() - 2, 60, "the others")
    letter, parked = store.list()
    assert letter.attempts == 3 and "poison deposit 2 of poisoned" in (letter.error or "")
    assert parked.parked_behind == letter.id
    assert worker.output().count(" — retry ") == 2  # two retries, with backoff

    fix.touch()  # deploy the fix
    assert store.replay_all() == 2
    cluster.wait_until_complete(60)
    cluster.check()  # the poisoned deposit was applied exactly once, in order
    assert worker.stop() == 0


def test_kill_a_consumer_holding_pending_entries(make_cluster):
    cluster = make_cluster(messages_per_tick=100)
    # a slow projector: each batch of read entries stays pending for seconds
    worker = cluster.start_worker(ARCHIPEL_TEST_DELAY="0.05")
    cluster.deposit_many(accounts=40, per_account=5)
    cluster.wait_for(lambda: _pending(cluster, "LedgerProjector") > 0, 60, "entries read by the projector")
    worker.kill()
    assert _pending(cluster, "LedgerProjector") > 0  # the dead consumer still owns them
    cluster.start_worker()
    cluster.wait_until_complete(90)
    cluster.wait_for(lambda: _pending(cluster, "LedgerProjector") == 0, 30, "pending entries taken over")
    cluster.check()


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["redis", "database"])
def test_sigstop_past_the_lease_then_sigcont_cannot_commit(make_cluster, broker):
    """Frozen past its leases, then thawed. With the database broker in the outbox's
    database the frozen relay may hold a move's transaction open: the server ends it when
    the shard leases it ran under would have expired, and the other worker relays on."""
    cluster = make_cluster(
        lease_seconds=1.5, messages_per_tick=20,
        broker={"provider": "database"} if broker == "database" else None,
    )
    # slow projector: a batch takes ~1 s, so the worker is frozen inside one
    paused = cluster.start_worker(ARCHIPEL_TEST_DELAY="0.05")
    cluster.deposit_many(accounts=20, per_account=10)
    cluster.wait_for(lambda: cluster.ledger_count() > 20, 60, "some progress")
    paused.signal(signal.SIGSTOP)  # frozen in the middle of its work
    time.sleep(2.5)  # past its lease
    other = cluster.start_worker()
    cluster.wait_until_complete(120)  # the other worker took every partition over
    paused.signal(signal.SIGCONT)
    # almost always frozen inside a batch: its commit is refused (fenced). If the
    # signal landed between two batches, it must notice the takeover before
    # committing anything (the fencing itself is proven deterministically in
    # tests/engine/test_fencing_and_relay.py).
    cluster.wait_for(
        lambda: "the commit was refused" in paused.output() or "lost partition" in paused.output(),
        30,
        "the paused worker to find out it lost its partitions",
    )
    time.sleep(1.0)
    cluster.check()  # its late commit was refused: nothing applied twice
    assert paused.stop() == 0
    assert other.stop() == 0


def test_kill_9_in_the_middle_of_a_direct_move(make_cluster):
    """The database broker in the outbox's database: claim, publish and mark sent are one
    transaction. A relay killed inside it leaves every row pending and no entry published
    (its transaction dies with its connection); the next worker relays them all."""
    cluster = make_cluster(broker={"provider": "database"})
    cluster.deposit_many(accounts=10, per_account=5)
    crashing = cluster.start_worker(ARCHIPEL_TEST_CRASH_IN_MOVE="1")
    assert crashing.proc.wait(60) == 9, crashing.output()[-2000:]
    assert "crashing in the middle of a direct move" in crashing.output()
    outbox = cluster.bank.providers.database("default").outbox()
    assert outbox.pending_count() == len(outbox.rows()) > 0
    broker = cluster.bank.brokers["default"]
    assert sum(broker.length(stream) for stream in broker.streams()) == 0
    cluster.start_worker()
    cluster.wait_until_complete(60)
    cluster.check()


@pytest.mark.slow
def test_restart_redis_under_load(make_cluster, tmp_path: Path):
    durable = RedisServer.launch(config={"appendonly": "yes", "appendfsync": "always"})
    try:
        cluster = make_cluster(redis_url=durable.url())
        first = cluster.start_worker(ARCHIPEL_TEST_DELAY="0.002")
        second = cluster.start_worker(ARCHIPEL_TEST_DELAY="0.002")
        cluster.deposit_many(accounts=20, per_account=10)
        cluster.wait_for(lambda: cluster.ledger_count() > 20, 60, "some progress")
        assert cluster.ledger_count() < cluster.total()  # restart in the middle of the work
        durable.restart(graceful=False)  # kill -9 and start again (AOF, fsync always)
        cluster.deposit_many(accounts=20, per_account=5)  # load keeps coming
        durable.restart(graceful=True)
        cluster.deposit_many(accounts=20, per_account=2)
        cluster.wait_until_complete(120)
        cluster.check()
        assert first.stop() == 0
        assert second.stop() == 0
    finally:
        durable.destroy()


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["redis", "database"])
def test_restart_postgresql_under_load(make_cluster, postgres_server, broker):
    """A crash (immediate shutdown) and a clean restart of PostgreSQL while two workers run.

    With the embedded database broker the broker itself goes down too: a read
    whose COMMIT reply is lost must not strand the entries it delivered.
    """
    cluster = make_cluster(broker={"provider": "database"} if broker == "database" else None)
    workers = [cluster.start_worker(ARCHIPEL_TEST_DELAY="0.002") for _ in range(2)]
    cluster.deposit_many(accounts=20, per_account=10)
    cluster.wait_for(lambda: cluster.ledger_count() > 20, 60, "some progress")
    assert cluster.ledger_count() < cluster.total()  # restart in the middle of the work
    postgres_server.restart("immediate")  # a crash: no checkpoint, connections cut
    cluster.deposit_many(accounts=20, per_account=3)  # load keeps coming
    postgres_server.restart("fast")
    cluster.deposit_many(accounts=20, per_account=2)
    cluster.wait_until_complete(120)
    cluster.check()
    for worker in workers:
        code = worker.stop()
        assert code == 0, worker.output()[-6000:]


@pytest.mark.slow
def test_two_worker_processes_share_the_work(make_cluster):
    cluster = make_cluster()
    workers = [cluster.start_worker(ARCHIPEL_TEST_DELAY="0.002") for _ in range(2)]
    # the second worker joins and takes its fair share of the partitions
    cluster.wait_for(
        lambda: all("owns partition" in worker.output() for worker in workers), 60,
        "both workers to own partitions",
    )
    cluster.deposit_many(accounts=30, per_account=10)
    cluster.wait_until_complete(90)
    cluster.check()
    for worker in workers:
        assert worker.stop() == 0


@pytest.mark.slow
def test_bulk_flood_does_not_delay_production(make_cluster):
    """Production deposits overtake a bulk backlog (counts and order; latency: bench/lanes.py)."""
    from archipel.engine import lanes

    cluster = make_cluster(priority_lanes=True, messages_per_tick=50)
    bulk_total = 4000
    with lanes.bulk():
        for n in range(bulk_total):
            cluster.deposit(f"bulk-{n % 300}")
    worker = cluster.start_worker(ARCHIPEL_TEST_DELAY="0.005")
    ledger = cluster.bank.query_for(cluster.bank.elements["Ledger"])

    def bulk_done() -> int:
        return cluster.ledger_count() - sum(1 for a in cluster.expected if a.startswith("prod"))

    cluster.wait_for(lambda: bulk_done() > 100, 60, "the bulk flood to be under way")
    overtaken = []  # bulk deposits handled while each production deposit waited
    for n in range(15):
        before = bulk_done()
        if bulk_total - before < bulk_total // 4:
            break  # too little bulk left to tell whether production overtakes it
        cluster.deposit(f"prod-{n}")
        with cluster.bank.domain_context():
            cluster.wait_for(lambda n=n: ledger.get_or_none(f"prod-{n}") is not None, 60, f"prod-{n}")
        overtaken.append(bulk_done() - before)
        # order: it overtook bulk deposits submitted before it
        assert bulk_done() < bulk_total, f"prod-{n} waited for the whole bulk flood: {overtaken}"
    assert len(overtaken) >= 3, f"the bulk flood ran out before production deposits could be timed: {overtaken}"
    backlog = bulk_total - bulk_done()
    # in arrival order, the first production deposit alone would wait for thousands; with
    # lanes each waits for a few ticks of bulk work at most
    assert max(overtaken) < bulk_total // 4, overtaken
    cluster.wait_until_complete(180)  # bulk was never starved
    cluster.check()
    assert worker.stop() == 0
    print(f"bulk deposits handled while a production deposit waited: {sorted(overtaken)}; "
          f"{backlog} bulk deposits still waiting at the end")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_workers_option_forks_supervised_worker_processes(make_cluster):
    cluster = make_cluster()
    supervisor = cluster.start_worker(ARCHIPEL_TEST_WORKERS="2")
    cluster.wait_for(lambda: len(_children(supervisor.pid)) == 2, 30, "two worker processes")
    cluster.deposit_many(accounts=10, per_account=5)
    cluster.wait_until_complete(60)
    victim = _children(supervisor.pid)[0]
    os.kill(victim, signal.SIGKILL)  # a worker dies: the supervisor starts another
    cluster.wait_for(
        lambda: victim not in _children(supervisor.pid) and len(_children(supervisor.pid)) == 2,
        30, "the dead worker to be replaced",
    )
    cluster.deposit_many(accounts=10, per_account=5)
    cluster.wait_until_complete(60)
    cluster.check()
    assert supervisor.stop() == 0, supervisor.output()[-3000:]
    assert "restarting it" in supervisor.output()


def test_a_message_that_kills_its_worker_ends_in_the_dlq_and_the_crash_loop_stops(make_cluster):
    """Retry counts in memory die with the process: the broker's delivery count is what stops it."""
    cluster = make_cluster(max_retries=1)
    supervisor = cluster.start_worker(ARCHIPEL_TEST_WORKERS="2", ARCHIPEL_TEST_KILL="1")
    cluster.deposit_many(accounts=10, per_account=3)
    cluster.deposit("killer", KILLER)  # its projector SIGKILLs the worker process running it
    cluster.deposit_many(accounts=10, per_account=3)
    store = dead_letter_store(cluster.bank)
    cluster.wait_for(lambda: len(store.list()) == 1, 90, "the killer in the dead-letter queue")
    others = {k: v for k, v in cluster.expected.items() if k != "killer"}
    cluster.wait_for(lambda: cluster.ledger_count() >= sum(map(len, others.values())), 60, "the others")
    (letter,) = store.list()
    assert letter.payload["data"]["account_id"] == "killer"
    assert "the worker handling it died 3 times" in (letter.error or "")
    assert check_ledgers(cluster.bank, others) == []  # every other deposit once, in order
    # the supervisor reaps and logs a death on its own schedule: the letter can be written first
    cluster.wait_for(
        lambda: supervisor.output().count("exited with -9") >= 3, 30, "the supervisor to log the third death"
    )
    deaths = supervisor.output().count("exited with -9")
    assert deaths == 3  # the first delivery, then 2 runs alone after takeovers (max(2, max_retries))
    time.sleep(3)  # past a lease: nothing dies any more
    assert supervisor.output().count("exited with -9") == deaths
    assert len(_children(supervisor.pid)) == 2
    assert supervisor.stop() == 0, supervisor.output()[-3000:]
