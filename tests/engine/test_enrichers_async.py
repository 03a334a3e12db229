"""Enricher extensions travel the async path: outbox, broker, another worker, SQL storage."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, current_domain, handle
from archipel.engine import run_server
from archipel.fields import Identifier
from tests.engine.conftest import ASYNC_MEMORY, async_config, server_config

SEEN: list[dict[str, Any]] = []


def build(config: dict[str, Any]) -> Domain:
    shop = Domain(name=f"Shop{uuid.uuid4().hex[:6]}", config=config)

    @shop.aggregate
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)

    @shop.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        order_id = Identifier(identifier=True)

    @shop.event(part_of=Order)
    class OrderPlaced(BaseEvent):
        order_id = Identifier()

    @shop.command_handler(part_of=Order)
    class Commands:
        @handle(PlaceOrder)
        def place(self, command):
            SEEN.append({"command": dict(command._metadata.extensions)})
            order = Order(order_id=command.order_id)
            order.raise_(OrderPlaced(order_id=order.order_id))
            current_domain.repository_for(Order).add(order)

    @shop.event_handler(part_of=Order)
    class Listener:
        @handle(OrderPlaced)
        def on_placed(self, event):
            SEEN.append({"event": dict(event._metadata.extensions)})

    @shop.event_enricher
    def tenant(event, aggregate):
        return {"tenant": "acme", "n": 1}

    @shop.event_enricher
    def later(event, aggregate):
        return {"n": 2}

    @shop.command_enricher
    def request(command):
        return {"request_id": "r-7"}

    shop.init(traverse=False)
    with shop.domain_context():
        shop.setup_database()
    shop.elements = {"PlaceOrder": PlaceOrder}  # type: ignore[attr-defined]
    return shop


@pytest.fixture(params=["memory+inline", "sqlite+database", "postgres+redis"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "memory+inline":
        return {**ASYNC_MEMORY, "enable_outbox": True, "server": server_config()}
    if request.param == "sqlite+database":
        database = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path}/shop.db"}
        broker = {"provider": "database"}
    else:
        request.applymarker(pytest.mark.postgres)
        request.applymarker(pytest.mark.redis)
        database = {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}
        broker = {"provider": "redis", "URI": request.getfixturevalue("redis_flushed_url")}
    return async_config(database, broker, partitions=2)


def test_extensions_reach_async_handlers_and_the_store(config):
    SEEN.clear()
    shop = build(config)
    try:
        with shop.domain_context():
            shop.process(shop.elements["PlaceOrder"](order_id="o1"))  # type: ignore[attr-defined]
        assert run_server(shop, test_mode=True) == 0
        assert {"command": {"request_id": "r-7"}} in SEEN
        assert {"event": {"tenant": "acme", "n": 2}} in SEEN
        with shop.domain_context():
            events = [m for m in shop.event_store.read_all() if m["metadata"]["kind"] != "COMMAND"]
        assert events and events[0]["metadata"]["extensions"] == {"tenant": "acme", "n": 2}
    finally:
        shop.shutdown()
