"""Fixtures for the engine's unit tests: bank domains on the memory adapters, async processing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archipel import Domain
from tests.engine.bank import BEHAVIOUR, build_bank

ASYNC_MEMORY: dict[str, Any] = {
    "databases": {"default": {"provider": "memory"}},
    "event_store": {"provider": "memory"},
    "brokers": {"default": {"provider": "inline"}},
    "command_processing": "async",
    "event_processing": "async",
    "message_processing": "async",
}


def server_config(**server: Any) -> dict[str, Any]:
    """``[server]`` settings for fast tests; ``stream_subscription`` keys go in their table."""
    stream_keys = {"blocking_timeout_ms", "max_retries", "retry_delay_seconds", "enable_dlq", "park_after_dead_letter"}
    stream = {"blocking_timeout_ms": 20, "retry_delay_seconds": 0.01, "max_retries": 2}
    stream.update({k: v for k, v in server.items() if k in stream_keys})
    table = {"partitions": 4, "lease_seconds": 2.0, **{k: v for k, v in server.items() if k not in stream_keys}}
    table["stream_subscription"] = stream
    return table


def kind_config(request: pytest.FixtureRequest, tmp_path: Path, kind: str, partitions: int = 2) -> dict[str, Any]:
    """A domain's storage of ``kind``: ``memory`` (with the inline broker), ``sqlite`` (a file in
    ``tmp_path``, with its database broker) or PostgreSQL with Redis; everything async, fast
    :func:`server_config` (``partitions``, one retry)."""
    if kind == "memory":
        database: dict[str, Any] = {"provider": "memory"}
        broker: dict[str, Any] = {"provider": "inline"}
    elif kind == "sqlite":
        database = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path}/shop.db"}
        broker = {"provider": "database"}
    else:
        database = {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}
        broker = {"provider": "redis", "URI": request.getfixturevalue("redis_flushed_url")}
    return async_config(database, broker, partitions=partitions, max_retries=1)


def async_config(database: dict[str, Any], broker: dict[str, Any], **server: Any) -> dict[str, Any]:
    """``database`` (also the event store's provider) and ``broker``, everything async;
    ``server``: :func:`server_config`'s settings."""
    return {
        "databases": {"default": database},
        "event_store": {"provider": database["provider"]},
        "brokers": {"default": broker},
        "command_processing": "async",
        "event_processing": "async",
        "message_processing": "async",
        "server": server_config(**server),
    }


def postgres_bank(name: str, url: str, **server: Any) -> Domain:
    """An initialised bank on the PostgreSQL database ``url`` (state and events) whose database
    broker lives in the same database (the relay's direct path); commands sync, events async;
    ``server``: :func:`server_config`'s settings."""
    config = {
        "databases": {"default": {"provider": "postgresql", "database_uri": url}},
        "event_store": {"provider": "postgresql"},
        "brokers": {"default": {"provider": "database"}},
        "command_processing": "sync",
        "event_processing": "async",
        "server": server_config(**server),
    }
    bank = build_bank(name, config)
    bank.init(traverse=False)
    return bank


@pytest.fixture(autouse=True)
def _reset_behaviour() -> Iterator[None]:
    BEHAVIOUR.update(fixed=False, delay=0.0, failures={}, transient=False)
    yield
    BEHAVIOUR.update(fixed=False, delay=0.0, failures={}, transient=False)


@pytest.fixture
def make_bank() -> Iterator[Callable[..., Domain]]:
    """``make_bank(partitions=2, ...)``: an initialised bank on memory + inline, async everything."""
    made: list[Domain] = []

    def factory(config: dict[str, Any] | None = None, **server: Any) -> Domain:
        settings = {**ASYNC_MEMORY, "server": server_config(**server), **(config or {})}
        bank = build_bank(f"Bank{uuid.uuid4().hex[:6]}", settings)
        bank.init(traverse=False)
        with bank.domain_context():
            bank.setup_database()
        made.append(bank)
        return bank

    yield factory
    for bank in made:
        if bank.initialized:
            bank.shutdown()


def deposit_many(bank: Domain, accounts: int, per_account: int, **extra: Any) -> dict[str, list[int]]:
    """Submit deposits round-robin over accounts; return the expected seqs per account."""
    deposit = bank.elements["Deposit"]  # type: ignore[attr-defined]
    expected: dict[str, list[int]] = {}
    with bank.domain_context():
        for seq in range(1, per_account + 1):
            for n in range(accounts):
                account = f"acc-{n}"
                bank.process(deposit(account_id=account, amount=1, seq=seq), **extra)
                expected.setdefault(account, []).append(seq)
    return expected
