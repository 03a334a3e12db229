"""Prometheus ``/metrics``: scraped over HTTP while a worker handles real traffic."""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest

from archipel.engine import EngineSettings
from archipel.engine.metrics import domain_registry, engine_registry, serve_metrics
from archipel.engine.worker import Worker
from archipel.errors import ConfigurationError

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(
        v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls)
    )


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_counters_move_with_traffic(make_bank):
    from tests.engine.bank import BEHAVIOUR

    BEHAVIOUR["transient"] = True  # a TimeoutError: retried once, then dead-lettered
    bank = make_bank(partitions=1, max_retries=1)
    stop = threading.Event()
    worker = Worker(bank, stop_event=stop)
    server = serve_metrics(engine_registry(bank, lambda: [worker]), 0)
    try:
        before = scrape(server.port)
        assert value(before, "archipel_messages_handled_total") == 0
        assert value(before, "archipel_workers", domain=bank.name) == 0  # not started yet
        worker.start()
        deposit = bank.elements["Deposit"]
        with bank.domain_context():
            for seq in (1, 2, 3):
                bank.process(deposit(account_id="good", amount=1, seq=seq))
            bank.process(deposit(account_id="bad", amount=-5, seq=1))

        def settled():
            # a scrape is not one snapshot: the DLQ gauge is read from storage before the
            # worker's counters, so the letter stored in between shows in the counter only
            now = scrape(server.port)
            moved = value(now, "archipel_messages_dead_lettered_total") >= 1
            return now if moved and value(now, "archipel_dead_letters") >= 1 else None

        after = wait_for(settled)
        assert after, "the poison message was never dead-lettered"
        projector = next(c.sub.name for c in worker.consumers if c.sub.name.endswith("LedgerProjector"))
        assert value(after, "archipel_messages_handled_total", subscription=projector) >= 3
        assert value(after, "archipel_messages_failed_total", subscription=projector) == 2
        assert value(after, "archipel_messages_retried_total", subscription=projector) == 1
        assert value(after, "archipel_messages_dead_lettered_total", subscription=projector) == 1
        assert value(after, "archipel_dead_letters", subscription=projector) == 1
        assert value(after, "archipel_batch_handling_seconds_count", subscription=projector) >= 1
        assert value(after, "archipel_workers", domain=bank.name) == 1
        assert ("archipel_outbox_backlog", (("domain", bank.name),)) in after
        assert value(after, "archipel_relay_lag_seconds", domain=bank.name) >= 0
    finally:
        stop.set()
        worker.stop(5.0)
        server.stop()


def test_domain_registry_reports_lag_without_a_worker(make_bank):
    bank = make_bank(partitions=1)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        bank.process(deposit(account_id="a", amount=1, seq=1))
    server = serve_metrics(domain_registry([bank]), 0)
    try:
        samples = scrape(server.port)
    finally:
        server.stop()
    # nothing runs: the command waits in the outbox (or on the broker) for a server
    waiting = value(samples, "archipel_outbox_backlog") + value(samples, "archipel_subscription_lag")
    assert waiting >= 1


def test_metrics_settings_are_checked():
    assert EngineSettings.from_config({"server": {"metrics_port": 9464}}).metrics_port == 9464
    with pytest.raises(ConfigurationError, match="metrics_port"):
        EngineSettings.from_config({"server": {"metrics_port": "x"}})


def test_run_server_serves_metrics_while_it_runs(make_bank):
    from archipel.engine import run_server

    bank = make_bank(partitions=1, metrics_port=0)  # [server] metrics_port, 0: any free port
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        bank.process(deposit(account_id="a", amount=1, seq=1))
    assert run_server(bank, test_mode=True) == 0
    assert run_server(bank, test_mode=True, metrics_port=0) == 0
