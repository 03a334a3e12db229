"""Subscription status, settings, stream naming, the health endpoint, subscribers."""

from __future__ import annotations

import json
import logging
import urllib.request
import uuid

import pytest

from archipel import BaseSubscriber, Domain
from archipel.engine import EngineSettings, run_server
from archipel.engine.health import HealthServer
from archipel.engine.leases import LeaseStore
from archipel.engine.relay import OutboxRelay
from archipel.engine.server import _warn_misplaced_keys
from archipel.engine.status import subscription_status
from archipel.engine.streams import (
    aggregate_key,
    broker_stream,
    category_of,
    parse_broker_stream,
    partition_of,
)
from archipel.errors import ConfigurationError
from tests.engine.conftest import ASYNC_MEMORY, deposit_many


def test_status_names_every_handler_with_lag_and_pending(make_bank):
    bank = make_bank(partitions=2)
    deposit_many(bank, accounts=3, per_account=2)
    settings = EngineSettings.from_config(bank.config)
    relay = OutboxRelay(bank, bank.brokers["default"], LeaseStore(bank), settings, "r")
    relay.tick()
    rows = {row.name.rsplit(".", 1)[1]: row for row in subscription_status(bank)}
    assert set(rows) == {"AccountCommands", "LedgerProjector"}
    commands = rows["AccountCommands"]
    assert commands.kind == "command_handler"
    assert commands.streams == [f"{bank.snake_name}::account:command"]
    assert commands.lag == 6 and commands.pending == 0 and commands.dlq_depth == 0
    assert rows["LedgerProjector"].kind == "projector"
    assert rows["LedgerProjector"].lag == 0
    assert run_server(bank, test_mode=True) == 0
    rows = {row.name.rsplit(".", 1)[1]: row for row in subscription_status(bank)}
    assert rows["AccountCommands"].lag == 0 and rows["LedgerProjector"].lag == 0


def test_status_of_sync_handlers_has_no_broker_numbers(make_bank):
    bank = make_bank(config={"command_processing": "sync", "event_processing": "sync"})
    rows = subscription_status(bank)
    assert {r.active for r in rows} == {False}
    assert {r.lag for r in rows} == {None}


def test_settings_from_config():
    settings = EngineSettings.from_config(
        {"server": {"messages_per_tick": 7, "priority_lanes": True, "partitions": 2,
                    "stream_subscription": {"max_retries": 5, "retry_delay_seconds": 0.5,
                                            "blocking_timeout_ms": 50, "enable_dlq": False}}}
    )
    assert (settings.messages_per_tick, settings.max_retries, settings.retry_delay_seconds) == (7, 5, 0.5)
    assert settings.priority_lanes and not settings.enable_dlq and settings.partitions == 2
    assert EngineSettings.from_config({}) == EngineSettings()
    with pytest.raises(ConfigurationError, match="partitions"):
        EngineSettings.from_config({"server": {"partitions": 0}})
    with pytest.raises(ConfigurationError, match="read_ahead"):
        EngineSettings.from_config({"server": {"read_ahead": 0}})


def test_misplaced_processing_keys_are_reported(caplog):
    domain = Domain(name=f"Cfg{uuid.uuid4().hex[:6]}", config={
        "brokers": {"default": {"provider": "inline", "event_processing": "async"}},
    })
    with caplog.at_level(logging.WARNING, logger="archipel.engine.server"):
        _warn_misplaced_keys(domain)
    assert "event_processing in [brokers.default]" in caplog.text


def test_stream_names():
    assert category_of("shop::order-42") == "shop::order"
    assert category_of("shop::order:command-42") == "shop::order:command"
    same = {aggregate_key(s) for s in ("shop::order-42", "shop::order:command-42", "shop::order-fact-42")}
    assert same == {"shop::order-42"}
    assert partition_of("shop::order-42", 8) == partition_of("shop::order:command-42", 8)
    assert {partition_of(f"shop::order-{n}", 4) for n in range(100)} == {0, 1, 2, 3}
    assert broker_stream("shop::order", 0, 1) == "shop::order"
    assert broker_stream("shop::order", 3, 4, "bulk") == "shop::order:bulk#3"
    assert parse_broker_stream("shop::order:bulk#3") == ("shop::order", 3, "bulk")
    assert parse_broker_stream("shop::order:command#0") == ("shop::order:command", 0, "production")
    assert parse_broker_stream("book_supply") == ("book_supply", 0, "production")


def test_health_endpoint_binds_loopback_and_reports():
    state = {"status": "ok", "n": 1}
    server = HealthServer(0, lambda: dict(state)).start()
    try:
        assert server._server.server_address[0] == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"status": "ok", "n": 1}
        state["status"] = "stopping"
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5)
        assert caught.value.code == 503
    finally:
        server.stop()


def test_subscribers_consume_raw_streams_through_the_server():
    received: list[dict] = []
    domain = Domain(name=f"Raw{uuid.uuid4().hex[:6]}", config={**ASYNC_MEMORY, "server": {"lease_seconds": 2}})

    @domain.subscriber(stream="webhooks")
    class Hook(BaseSubscriber):
        def __call__(self, payload: dict) -> None:
            if payload.get("fail"):
                raise ValueError("bad webhook")
            received.append(payload)

    domain.init(traverse=False)
    try:
        broker = domain.brokers["default"]
        broker.publish("webhooks", {"n": 1})
        assert received == []  # message_processing = "async": the server delivers
        broker.publish("webhooks", {"n": 2})
        assert run_server(domain, test_mode=True) == 0
        assert received == [{"n": 1}, {"n": 2}]
        broker.publish("webhooks", {"n": 2})  # a new entry: delivered again (raw = at-least-once)
        assert run_server(domain, test_mode=True) == 0
        assert len(received) == 3
    finally:
        domain.shutdown()


def test_an_unknown_server_setting_is_refused_naming_it_and_protean_s_load():
    from archipel.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"\[server\] unknown setting\(s\) wrkers; allowed: .*partitions"):
        EngineSettings.from_config({"server": {"wrkers": 3}})
    with pytest.raises(ConfigurationError, match=r"stream_subscription\] unknown setting\(s\) max_retry\b"):
        EngineSettings.from_config({"server": {"stream_subscription": {"max_retry": 3}}})
    # Protean's server keys load (archipel's engine has no use for them)
    settings = EngineSettings.from_config(
        {"server": {"tick_interval": 0, "drain_timeout": 10, "event_store_subscription": {}, "partitions": 2}}
    )
    assert settings.partitions == 2
