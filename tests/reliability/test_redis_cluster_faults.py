"""Fault scenario on Redis Cluster: workers come and go while a shard fails over.

Real worker processes, PostgreSQL and a 3-master Redis Cluster (one replica
each). The invariant checker (:meth:`Cluster.check`) ends the scenario:
every deposit handled once, in order per account, nothing left behind.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(300)]


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
    workers = [cluster.start_worker(ARCHIPEL_TEST_DELAY="0.004")]
    cluster.deposit_many(accounts=24, per_account=4)
    cluster.wait_for(lambda: cluster.ledger_count() > 20, 60, "some progress with one worker")

    workers += [cluster.start_worker(ARCHIPEL_TEST_DELAY="0.004") for _ in range(3)]  # 1 -> 4
    cluster.deposit_many(accounts=24, per_account=4)
    assert cluster.ledger_count() < cluster.total()  # the failover lands in the middle of the work
    first = redis_cluster.master_nodes()[0]
    fail_over(first)  # a replica takes over one shard, under load
    cluster.deposit_many(accounts=24, per_account=4)
    cluster.wait_for(
        lambda: sum("owns partition" in w.output() for w in workers) >= 3, 60,
        "the new workers to take partitions over",
    )

    for worker in workers[2:]:  # 4 -> 2: their partitions go to the two left
        assert worker.stop() == 0, worker.output()[-3000:]
    cluster.deposit_many(accounts=24, per_account=4)
    assert cluster.ledger_count() < cluster.total()
    second = next(n for n in redis_cluster.master_nodes() if n is not first)
    fail_over(second)  # another shard, while the partitions move
    cluster.deposit_many(accounts=24, per_account=4)

    cluster.wait_until_complete(180)
    cluster.check()
    for worker in workers[:2]:
        assert worker.stop() == 0, worker.output()[-3000:]
