"""A relay without relay shards costs no transaction per commit that wakes it.

Every commit with outbox rows rings the relays of every worker (the doorbell
in its process, ``NOTIFY`` in the others): a relay cannot tell whose shard a
commit wrote. A relay holding none of the shards used to look for one at
every tick — a read of the leases per wake-up, so one transaction per command
for each worker without shards (session 14's benchmark: the idle relays'
looks while the benchmark produced, 1–2 per command). Now it looks every
poll interval (``blocking_timeout_ms``) however often it is woken, and still
takes a shard given back at its next look.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.engine.leases import LeaseStore
from archipel.engine.worker import Worker
from tests._waiting import wait_until
from tests.engine.conftest import postgres_bank

pytestmark = pytest.mark.postgres

SHARDS = 4
#: the poll interval: a relay without shards looks this often (ms)
POLL_MS = 1000


def _bank(url: str) -> Any:
    return postgres_bank(
        f"Wake{uuid.uuid4().hex[:6]}", url,
        partitions=2, relay_shards=SHARDS, lease_seconds=10.0, blocking_timeout_ms=POLL_MS,
    )


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.integers(min_value=40, max_value=100))
def test_a_relay_without_shards_looks_per_poll_interval_not_per_commit(postgres_db_url, commands):
    bank = _bank(postgres_db_url)
    deposit = bank.elements["Deposit"]  # type: ignore[attr-defined]
    with bank.domain_context():
        bank.setup_database()
        bank.brokers["default"].truncate()
        leases = LeaseStore(bank)
        holds = [leases.acquire(f"{bank.snake_name}/relay/default/{s}", "relay", "holder", 600) for s in range(SHARDS)]
        assert all(hold is not None for hold in holds)
        worker = Worker(bank).start()
        relay = worker.relay
        assert relay is not None
        statements: list[str] = []
        looks: list[float] = []

        def seen(sql: Any, _params: Any) -> None:
            import threading

            if threading.current_thread().name == "archipel-relay":
                statements.append(str(sql))

        acquire_many = relay.leases.acquire_many

        def counted(*args: Any, **kwargs: Any) -> Any:  # a look: one read of the shards' leases
            looks.append(time.monotonic())
            return acquire_many(*args, **kwargs)

        relay.leases.acquire_many = counted  # type: ignore[method-assign]
        database = bank.providers.database()
        try:
            wait_until(lambda: "default" in relay._short, "the relay's first look")  # (it found every shard held)
            with database.engine.observe(seen):
                started = time.monotonic()
                looks.clear()
                for n in range(commands):  # each commit rings the relay
                    bank.process(deposit(account_id=f"acc-{n % 5}", amount=1, seq=n // 5 + 1))
                elapsed = time.monotonic() - started
            # a look per poll interval begun meanwhile, whatever the number of commits: before,
            # a look per wake-up (about one per command); each look one read of the leases, and
            # the count of live workers read again at most once per look (two reads)
            allowed = 2 + int(elapsed * 1000 / POLL_MS)
            assert len(looks) <= allowed, (commands, elapsed, looks)
            assert len(statements) <= 3 * allowed, (commands, elapsed, statements)
            assert relay._owned.get("default", {}) == {}
            # shards given back are still taken (at the next look) and the rows relayed
            for hold in holds:
                assert hold is not None
                leases.release(hold)
            wait_until(lambda: relay.relayed >= commands, "relaying the commands' events")
        finally:
            worker.stop()
            relay.release()
            bank.drop_database()
            bank.shutdown()
