"""Protean's documented element options: accepted, checked, and doing what they say."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, apply, current_domain, handle
from archipel.core.handler_options import RetryPolicy, retry_policy
from archipel.errors import ConfigurationError
from archipel.fields import Identifier, Integer, String
from archipel.handling import dispatch
from tests.unit._support import start


def test_event_sourced_is_the_spelling_of_is_event_sourced(make_domain):
    bank = make_domain()

    @bank.aggregate(event_sourced=True)
    class Account(BaseAggregate):
        balance = Integer(default=0)

        def deposit(self, amount):
            self.raise_(Deposited(account_id=self.id, amount=amount))

        @apply
        def on_deposit(self, event: Deposited):
            self.balance += event.amount

    @bank.event(part_of=Account)
    class Deposited(BaseEvent):
        account_id = Identifier()
        amount = Integer()

    start(bank)
    assert Account._meta.get("is_event_sourced") is True
    with bank.domain_context():
        account = Account()
        account.deposit(5)
        bank.repository_for(Account).add(account)
        # state is the replay of its stream: the event store holds the event
        stream = f"{Account._meta.stream_category}-{account.id}"
        assert [m["data"]["amount"] for m in bank.event_store.read_stream(stream)] == [5]
        assert bank.repository_for(Account).get(account.id).balance == 5


def test_a_deprecated_event_warns_once_when_raised_naming_its_successor(make_domain):
    shop = make_domain()

    @shop.aggregate
    class Order(BaseAggregate):
        def place(self):
            self.raise_(OrderPlaced(order_id=self.id))

    @shop.event(part_of=Order)
    class OrderPlacedV2(BaseEvent):
        order_id = Identifier()

    @shop.event(part_of=Order, deprecated={"since": "0.4", "removal": "1.0"}, superseded_by=OrderPlacedV2)
    class OrderPlaced(BaseEvent):
        order_id = Identifier()

    start(shop)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Order().place()
        Order().place()
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(messages) == 1
    assert "OrderPlaced is deprecated since 0.4" in messages[0]
    assert "removed in 1.0" in messages[0] and "OrderPlacedV2" in messages[0]


def test_deprecated_takes_true_or_since_and_removal(make_domain):
    shop = make_domain()

    @shop.aggregate
    class Order(BaseAggregate):
        pass

    with pytest.raises(ConfigurationError, match="deprecated"):
        shop.event(part_of=Order, deprecated={"when": "soon"})(type("Old", (BaseEvent,), {}))


def test_a_projection_with_cache_lives_in_the_cache_not_the_database(make_domain):
    shop = make_domain(databases={"default": {"provider": "sqlite", "database_uri": "sqlite://"}})

    @shop.projection(cache="default")
    class Basket:
        basket_id = Identifier(identifier=True)
        items = Integer(default=0)

    start(shop)
    assert shop.schema_for(Basket).database == "cache:default"
    with shop.domain_context():
        shop.repository_for(Basket).add(Basket(basket_id="b1", items=2))
        assert shop.query_for(Basket).get("b1").items == 2
    assert type(shop.providers.database("cache:default")).__module__.startswith("archipel.adapters.memory")


def test_a_projection_in_a_cache_that_is_not_configured_is_a_configuration_error(make_domain):
    shop = make_domain()

    @shop.projection(cache="fast")
    class Basket:
        basket_id = Identifier(identifier=True)

    with pytest.raises(ConfigurationError, match=r"cache 'fast' is not configured: add \[caches\.fast\]"):
        start(shop)


def build_counter(make_domain, **handler_options):
    shop = make_domain()
    seen: list[str] = []

    @shop.aggregate
    class Order(BaseAggregate):
        def place(self):
            self.raise_(OrderPlaced(order_id=self.id))

    @shop.event(part_of=Order)
    class OrderPlaced(BaseEvent):
        order_id = Identifier()

    @shop.event_handler(part_of=Order, **handler_options)
    class Counter:
        @handle(OrderPlaced)
        def count(self, event):
            seen.append(event.order_id)

    start(shop)
    return shop, Order, seen


def test_idempotent_handler_handles_a_redelivered_event_once_in_sync_mode(make_domain):
    shop, order_cls, seen = build_counter(make_domain, idempotent=True)
    with shop.domain_context():
        order = order_cls()
        order.place()
        shop.repository_for(order_cls).add(order)
        (stored,) = shop.event_store.read_stream(f"{order_cls._meta.stream_category}-{order.id}")
        event = shop.router.messages[stored["metadata"]["type"]].from_message(stored)
        dispatch.publish([event])  # delivered again, e.g. replayed
    assert seen == [order.id]


def test_without_idempotent_a_redelivered_event_is_handled_again(make_domain):
    shop, order_cls, seen = build_counter(make_domain)
    with shop.domain_context():
        order = order_cls()
        order.place()
        shop.repository_for(order_cls).add(order)
        (stored,) = shop.event_store.read_stream(f"{order_cls._meta.stream_category}-{order.id}")
        dispatch.publish([shop.router.messages[stored["metadata"]["type"]].from_message(stored)])
    assert seen == [order.id, order.id]


def test_handle_with_a_type_string(make_domain):
    shop = make_domain("Shop")
    seen = []

    @shop.aggregate
    class Order(BaseAggregate):
        def place(self):
            self.raise_(OrderPlaced(order_id=self.id))

    @shop.event(part_of=Order)
    class OrderPlaced(BaseEvent):
        order_id = Identifier()

    @shop.event_handler(part_of=Order)
    class Audit:
        @handle("Shop.OrderPlaced.v1")
        def record(self, event):
            seen.append((type(event).__name__, event.order_id))

    start(shop)
    with shop.domain_context():
        order = Order()
        order.place()
        current_domain.repository_for(Order).add(order)
    assert seen == [("OrderPlaced", order.id)]


def test_handler_options_are_checked(make_domain):
    shop = make_domain()

    @shop.aggregate
    class Order(BaseAggregate):
        name = String()

    bad = [
        {"retries": -1},
        {"backoff": "random"},
        {"retry_exceptions": ["no.such.Error"]},
        {"retry_exceptions": [int]},
        {"subscription_profile": "turbo"},
        {"subscription_type": "carrier_pigeon"},
        {"subscription_config": {"tick_interval": 1}},
        {"sequential_by": "order_id"},
        {"idempotent": "yes"},
        {"colour": "blue"},
    ]
    for options in bad:
        with pytest.raises(ConfigurationError) as err:
            shop.event_handler(part_of=Order, **options)(type("H", (), {}))
        assert "H" in str(err.value) and next(iter(options)) in str(err.value), options
    with pytest.raises(ConfigurationError, match="timeout"):
        shop.command_handler(part_of=Order, timeout=-3)(type("C", (), {}))


def test_handler_options_are_normalised_into_the_retry_policy(make_domain):
    shop = make_domain()

    @shop.aggregate
    class Order(BaseAggregate):
        name = String()

    @shop.command_handler(part_of=Order, retries=2, backoff="linear",
                          retry_exceptions=["builtins.ConnectionError", TimeoutError],
                          timeout=dt.timedelta(minutes=2), subscription_profile="fast",
                          subscription_config={"messages_per_tick": 7}, subscription_type="stream")
    class Commands:
        pass

    policy = retry_policy(Commands._meta.extra)
    assert policy == RetryPolicy(retries=2, backoff="linear", exceptions=(ConnectionError, TimeoutError))
    from archipel.engine.classify import is_transient

    assert is_transient(ValueError(), policy.exceptions or ()) is False
    assert is_transient(ConnectionRefusedError(), policy.exceptions or ())
    assert [policy.delay(n, 1.0, 2.5) for n in (1, 2, 3)] == [1.0, 2.0, 2.5]
    assert RetryPolicy(backoff="fixed").delay(5, 1.0, 9) == 1.0
    assert RetryPolicy().delay(3, 1.0, 60) == 4.0
    assert Commands._meta.get("timeout") == 120.0


def build_flaky(make_domain, failures, error, **options):
    shop = make_domain()
    calls = {"command": 0, "event": 0}

    @shop.aggregate
    class Order(BaseAggregate):
        name = String()

    @shop.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        name = String()

    @shop.event(part_of=Order)
    class OrderPlaced(BaseEvent):
        order_id = Identifier()

    @shop.command_handler(part_of=Order, **options)
    class Commands:
        @handle(PlaceOrder)
        def place(self, command):
            calls["command"] += 1
            order = Order(name=command.name)
            order.raise_(OrderPlaced(order_id=order.id))
            current_domain.repository_for(Order).add(order)
            if calls["command"] <= failures:
                raise error("flaky")  # after writing: the attempt must leave nothing behind
            return order.id

    @shop.event_handler(part_of=Order, **options)
    class Listener:
        @handle(OrderPlaced)
        def on_placed(self, event):
            calls["event"] += 1
            if calls["event"] <= failures:
                raise error("flaky listener")

    start(shop)
    return shop, Order, PlaceOrder, calls


def test_retries_rerun_a_transient_failure_in_process_each_time_in_a_fresh_unit_of_work(make_domain):
    shop, order_cls, place, calls = build_flaky(make_domain, 2, ConnectionError, retries=2, backoff="fixed")
    with shop.domain_context():
        order_id = shop.process(place(name="x"))
        assert calls == {"command": 3, "event": 3}
        assert [o.id for o in shop.repository_for(order_cls).query.all()] == [order_id]


def test_retries_do_not_rerun_business_errors_nor_more_than_asked(make_domain):
    shop, _, place, calls = build_flaky(make_domain, 5, ValueError, retries=3, backoff="fixed")
    with shop.domain_context(), pytest.raises(ValueError):
        shop.process(place(name="x"))
    assert calls["command"] == 1
    shop, _, place, calls = build_flaky(make_domain, 5, TimeoutError, retries=1, backoff="fixed")
    with shop.domain_context(), pytest.raises(TimeoutError):
        shop.process(place(name="x"))
    assert calls["command"] == 2


def test_without_retries_a_handler_runs_once(make_domain):
    shop, _, place, calls = build_flaky(make_domain, 1, ConnectionError)
    with shop.domain_context(), pytest.raises(ConnectionError):
        shop.process(place(name="x"))
    assert calls["command"] == 1


def test_published_on_a_command_warns_it_has_no_effect(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Ledger(BaseAggregate):
        name = String()

    with pytest.warns(DeprecationWarning, match="Post: `published` on a command has no effect"):

        @domain.command(part_of=Ledger, published=True)
        class Post(BaseCommand):
            amount = Integer()

    assert "published" not in Post._meta.extra
    with pytest.raises(ConfigurationError, match="unknown option"):

        @domain.command(part_of=Ledger, broadcast=True)
        class Shout(BaseCommand):
            amount = Integer()
