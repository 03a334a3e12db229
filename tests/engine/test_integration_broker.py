"""Integration events (seed 003) leave through their own outbox rows and broker.

With ``[integration] broker = "<name>"``, every ``published=True`` event also
gets an outbox row bound for that broker. The relay publishes those on the
integration stream; while that broker is down they stay in the outbox and are
retried, and the domain's own events keep flowing.
"""

from __future__ import annotations

import time
import uuid

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, current_domain, handle
from archipel.engine import EngineSettings
from archipel.engine.leases import LeaseStore
from archipel.engine.relay import OutboxRelay
from archipel.errors import BrokerUnavailable, ConfigurationError
from archipel.fields import Float, Identifier, String


def build_shop(
    integration: dict | None = None, database: dict | None = None, default: dict | None = None
) -> Domain:
    config = {
        "databases": {"default": database or {"provider": "memory"}},
        "event_store": {"provider": "memory"},
        "brokers": {"default": default or {"provider": "inline"}, "central": {"provider": "inline"}},
        "command_processing": "sync",
        "event_processing": "async",
        "server": {"lease_seconds": 0.5, "partitions": 1},
    }
    if integration is not None:
        config["integration"] = integration
    shop = Domain(name=f"Shop{uuid.uuid4().hex[:6]}", config=config)

    @shop.aggregate
    class Product(BaseAggregate):
        name = String(required=True)
        price = Float()

    @shop.event(part_of=Product)
    class ProductPutOnSale(BaseEvent):
        product_id = Identifier(required=True)
        price = Float()

    @shop.event(part_of=Product, published=True)
    class ProductUpdatedIntegrationEvent(BaseEvent):
        product_id = Identifier(required=True)
        name = String()
        price = Float()

    @shop.command(part_of=Product)
    class PutOnSale(BaseCommand):
        name = String(required=True)
        price = Float()

    @shop.command_handler(part_of=Product)
    class Products:
        @handle(PutOnSale)
        def put_on_sale(self, command):
            product = Product(name=command.name, price=command.price)
            product.raise_(ProductPutOnSale(product_id=product.id, price=product.price))
            product.raise_(
                ProductUpdatedIntegrationEvent(product_id=product.id, name=product.name, price=product.price)
            )
            current_domain.repository_for(Product).add(product)
            return product.id

    shop.init(traverse=False)
    with shop.domain_context():
        shop.setup_database()
    return shop


def relay_once(shop: Domain) -> OutboxRelay:
    settings = EngineSettings.from_config(shop.config)
    relay = OutboxRelay(shop, shop.brokers["default"], LeaseStore(shop), settings, "relay-1")
    while relay.tick():
        pass
    relay.flush()
    return relay


def central_messages(shop: Domain) -> list[dict]:
    central = shop.brokers["central"]
    stream = shop._integration_stream
    central.ensure_group(stream, "test")
    return [entry.payload for entry in central.read("test", "c", [stream], count=100)]


def test_integration_events_are_published_on_the_integration_broker():
    shop = build_shop({"broker": "central", "stream": "shop.public"})
    try:
        with shop.domain_context():
            shop.process(shop.registry.by_name["PutOnSale"](name="Lamp", price=20.0))
        relay = relay_once(shop)
        received = central_messages(shop)
        assert [m["metadata"]["type"] for m in received] == [f"{shop.name}.ProductUpdatedIntegrationEvent.v1"]
        assert received[0]["data"]["name"] == "Lamp"
        assert shop._integration_stream == "shop.public"
        relay.release()
        assert shop.providers.database().outbox().pending_count() == 0
    finally:
        shop.shutdown()


def test_a_down_integration_broker_holds_back_only_integration_events(monkeypatch):
    shop = build_shop({"broker": "central"})
    try:
        central = shop.brokers["central"]
        real_publish_many = central.publish_many

        def down(items):
            raise BrokerUnavailable("central broker is down")

        monkeypatch.setattr(central, "publish_many", down)
        with shop.domain_context():
            shop.process(shop.registry.by_name["PutOnSale"](name="Desk", price=99.0))
        relay = relay_once(shop)
        outbox = shop.providers.database().outbox()
        assert outbox.pending_count() == 1  # only the integration row waits
        assert central_messages(shop) == []

        monkeypatch.setattr(central, "publish_many", real_publish_many)
        time.sleep(0.6)  # its row lease expires: the relay claims it again
        while relay.tick():
            pass
        relay.flush()
        relay.release()
        assert [m["data"]["name"] for m in central_messages(shop)] == ["Desk"]
        assert outbox.pending_count() == 0
    finally:
        shop.shutdown()


def test_the_integration_broker_must_be_configured():
    with pytest.raises(ConfigurationError, match="integration.broker"):
        build_shop({"broker": "nowhere"})


def test_integration_events_keep_their_order_across_an_outage_of_their_broker(monkeypatch):
    shop = build_shop({"broker": "central"})
    try:
        central = shop.brokers["central"]
        real_publish_many = central.publish_many

        def down(items):
            raise BrokerUnavailable("central broker is down")

        put_on_sale = shop.registry.by_name["PutOnSale"]
        monkeypatch.setattr(central, "publish_many", down)
        with shop.domain_context():
            for n in range(3):
                shop.process(put_on_sale(name=f"item-{n}", price=1.0))
        settings = EngineSettings.from_config(shop.config)
        relay = OutboxRelay(shop, shop.brokers["default"], LeaseStore(shop), settings, "relay-1")
        relay.tick()  # fails for the integration rows, relays the others
        relay.flush()
        monkeypatch.setattr(central, "publish_many", real_publish_many)  # back at once
        with shop.domain_context():
            for n in range(3, 5):
                shop.process(put_on_sale(name=f"item-{n}", price=1.0))
        outbox = shop.providers.database().outbox()
        deadline = time.monotonic() + 10
        while outbox.pending_count() and time.monotonic() < deadline:
            relay.tick()
            relay.flush()
            time.sleep(0.02)
        relay.release()
        # the newer ones never overtook the ones that waited for the broker
        assert [m["data"]["name"] for m in central_messages(shop)] == [f"item-{n}" for n in range(5)]
    finally:
        shop.shutdown()


@pytest.mark.redis
def test_rows_claimed_as_json_text_reach_redis_and_the_integration_broker_as_messages(redis_flushed_url, tmp_path):
    # a SQL outbox and a Redis broker: the relay claims rows as their stored JSON text and
    # publishes it as it is; integration rows go to their broker decoded, as messages
    shop = build_shop(
        {"broker": "central"},
        database={"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'shop.db'}"},
        default={"provider": "redis", "URI": redis_flushed_url},
    )
    try:
        with shop.domain_context():
            shop.process(shop.registry.by_name["PutOnSale"](name="Chair", price=12.5))
        outbox = shop.providers.database().outbox()
        stored = [row["message"] for row in outbox.rows()]
        relay = relay_once(shop)
        relay.release()
        assert outbox.pending_count() == 0
        assert [m["data"]["name"] for m in central_messages(shop)] == ["Chair"]
        redis_broker = shop.brokers["default"]
        published = []
        for stream in redis_broker.streams():
            redis_broker.ensure_group(stream, "test")
            published += [entry.payload for entry in redis_broker.read("test", "c", [stream], count=100)]
        # the domain's event, as the outbox stored it (the integration row went to "central")
        expected = [m for m in stored if m["metadata"]["type"].endswith("ProductPutOnSale.v1")]
        assert expected and [m for m in published if m in expected] == expected
    finally:
        shop.shutdown()
