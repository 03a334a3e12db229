"""Fault scenario on Redis Cluster: workers come and go while shards fail over, under steady load.

Real worker processes, PostgreSQL and a 3-master Redis Cluster (one replica
each). A thread keeps submitting deposits for the whole scenario, so every
fault lands in the middle of the work. The invariant checker
(:meth:`Cluster.check`) ends it: every deposit handled once, in order per
account, nothing left in the outbox or the dead-letter queue.
"""

from __future__ import annotations

import threading

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(300)]


class SteadyLoad(threading.Thread):
    """Deposits round-robin over ``accounts`` accounts until :meth:`finish`."""

    def __init__(self, cluster, accounts: int = 24) -> None:
        super().__init__(name="steady-load", daemon=True)
        self.cluster = cluster
        self.accounts = accounts
        self.error: BaseException | None = None
        self._done = threading.Event()

    def run(self) -> None:
        n = 0
        try:
            while not self._done.is_set():
                self.cluster.deposit(f"acc-{n % self.accounts}")
                n += 1
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> None:
        self._done.set()
        self.join(30)
        assert self.error is None, f"submitting deposits failed: {self.error!r}"


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["failover", "kill-9"])
def test_grow_workers_1_4_2_under_load_while_cluster_nodes_fail_over(
    make_cluster, redis_cluster, redis_cluster_url, fault
):
    """``failover``: CLUSTER FAILOVER (planned: no write lost). ``kill-9``: a master crashes and its
    replica is elected; ``replica_acks = 1`` keeps entries the crash could lose in the outbox."""
    broker = {"provider": "redis", "URI": redis_cluster_url, "cluster": True}
    if fault == "kill-9":
        broker["replica_acks"] = 1
    cluster = make_cluster(broker=broker, partitions=8)
    fail_over = redis_cluster.failover if fault == "failover" else redis_cluster.crash

    def progress(more: int, what: str) -> None:
        target = cluster.ledger_count() + more
        cluster.wait_for(lambda: cluster.ledger_count() >= target, 90, what)

    workers = [cluster.start_worker(ARCHIPEL_TEST_DELAY="0.004")]
    load = SteadyLoad(cluster)
    load.start()
    try:
        progress(30, "progress with one worker")
        workers += [cluster.start_worker(ARCHIPEL_TEST_DELAY="0.004") for _ in range(3)]  # 1 -> 4
        cluster.wait_for(
            lambda: all("owns partition" in w.output() for w in workers), 60,
            "every worker to take partitions over",
        )
        first = redis_cluster.master_nodes()[0]
        fail_over(first)  # a replica takes over one shard
        progress(30, "progress after the first failover")
        for worker in workers[2:]:  # 4 -> 2: their partitions go to the two left
            assert worker.stop() == 0, worker.output()[-3000:]
        second = next(n for n in redis_cluster.master_nodes() if n is not first)
        fail_over(second)  # another shard, while the partitions move
        progress(30, "progress after the second failover")
    finally:
        load.finish()
    cluster.wait_until_complete(180)
    cluster.check()
    for worker in workers[:2]:
        assert worker.stop() == 0, worker.output()[-3000:]
