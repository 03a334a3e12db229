"""Per-aggregate order on Redis Cluster when a node refuses one entry of the relay's batch.

Seen once in CI (``tests/reliability/test_redis_cluster_faults.py``, a
``CLUSTER FAILOVER``): a ledger ``... 106, 107, 102, 108 ...``. A node
answered one ``XADD`` of the relay's pipeline with an error (``CLUSTERDOWN``
while its cluster state changed) and accepted the later entries of that
partition; the relay gave the batch back and published it again, so the
refused entry reached the stream only after them — and the projector
handled it after them. Here the node refuses that one command once
(:mod:`tests.brokers.refusing`: the servers are real), and the whole engine
runs: relay, consumer, processed records, ledger.
"""

from __future__ import annotations

import pytest

from archipel.engine import run_server
from tests.brokers.refusing import refusing
from tests.engine.bank import check_ledgers
from tests.engine.conftest import deposit_many

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("replica_acks", [0, 1], ids=["no-wait", "replica-acks"])
def test_an_entry_a_node_refused_is_never_handled_after_later_entries_of_its_aggregate(
    make_bank, redis_cluster_url, monkeypatch, replica_acks
):
    broker = {"provider": "redis", "URI": redis_cluster_url, "cluster": True, "retries": 0}
    if replica_acks:
        broker["replica_acks"] = 1
    with refusing(monkeypatch) as fault:
        bank = make_bank(
            config={"command_processing": "sync", "brokers": {"default": broker}},
            partitions=2, relay_batch_size=100,
        )
        expected = deposit_many(bank, accounts=3, per_account=8)  # one relay batch: 24 events
        fault.times = 1  # the third deposit of acc-1, the first time it is sent
        fault.matches = lambda sent: b"Deposited" in sent and b'"acc-1"' in sent and b'"seq":3' in sent
        assert run_server(bank, test_mode=True) == 0
    assert fault.refused == 1
    assert check_ledgers(bank, expected) == []
