"""A worker started while PostgreSQL is away (it went down after the server found it
reachable, as in a restart under load) rides the outage out like the running ones: it does
not fail its process, joins the worker group once the database is back and handles every
message, once and in order (``test_restart_postgresql_under_load`` lost such a worker
process: exit 1 from ``Worker.start``)."""

from __future__ import annotations

import uuid

import pytest

from archipel.engine.worker import Worker
from tests._waiting import wait_until
from tests.engine.bank import check_ledgers
from tests.engine.conftest import postgres_bank

pytestmark = pytest.mark.postgres


def test_a_worker_started_during_an_outage_joins_when_the_database_is_back(postgres_server, postgres_db_url):
    bank = postgres_bank(f"Outage{uuid.uuid4().hex[:6]}", postgres_db_url, partitions=2, lease_seconds=2.0)
    deposit = bank.elements["Deposit"]  # type: ignore[attr-defined]
    with bank.domain_context():
        bank.setup_database()
        worker = Worker(bank)
        postgres_server.stop()
        try:
            worker.start()  # raised DatabaseUnavailable before
            assert worker.alive
            assert worker.membership._lease is None  # not joined yet
        finally:
            postgres_server.start()
        try:
            expected: dict[str, list[int]] = {}
            for n in range(20):
                account, seq = f"acc-{n % 4}", n // 4 + 1
                bank.process(deposit(account_id=account, amount=1, seq=seq))
                expected.setdefault(account, []).append(seq)
            wait_until(lambda: worker.membership._lease is not None, "joining the worker group")
            wait_until(lambda: not check_ledgers(bank, expected), "every deposit handled")
            assert check_ledgers(bank, expected) == []
        finally:
            worker.stop()
            bank.drop_database()
            bank.shutdown()
