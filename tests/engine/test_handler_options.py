"""Per-handler options read by the engine: retry policy, subscription settings, command timeout."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, current_domain, handle
from archipel.engine import EngineSettings, run_server
from archipel.engine.dlq import dead_letter_store
from archipel.engine.handler_policy import handler_settings
from archipel.engine.invoke import command_expired
from archipel.errors import InvalidOperation, ObjectNotFoundError
from archipel.fields import Identifier, String
from tests.engine.conftest import ASYNC_MEMORY, server_config

ATTEMPTS: dict[str, int] = {}


def build(options: dict[str, Any], error: type[BaseException]) -> Domain:
    shop = Domain(name=f"Shop{uuid.uuid4().hex[:6]}", config={**ASYNC_MEMORY, "server": server_config(max_retries=3)})

    @shop.aggregate
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)
        note = String()

    @shop.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        order_id = Identifier(identifier=True)

    @shop.event(part_of=Order)
    class OrderPlaced(BaseEvent):
        order_id = Identifier()

    @shop.command_handler(part_of=Order, timeout=3600)
    class Commands:
        @handle(PlaceOrder)
        def place(self, command):
            order = Order(order_id=command.order_id)
            order.raise_(OrderPlaced(order_id=order.order_id))
            current_domain.repository_for(Order).add(order)

    @shop.event_handler(part_of=Order, **options)
    class Flaky:
        @handle(OrderPlaced)
        def on_placed(self, event):
            ATTEMPTS[event.order_id] = ATTEMPTS.get(event.order_id, 0) + 1
            raise error(f"flaky {event.order_id}")

    shop.init(traverse=False)
    with shop.domain_context():
        shop.setup_database()
    shop.elements = {"PlaceOrder": PlaceOrder}  # type: ignore[attr-defined]
    return shop


def run_one(shop: Domain) -> int:
    ATTEMPTS.clear()
    place = shop.elements["PlaceOrder"]  # type: ignore[attr-defined]
    with shop.domain_context():
        shop.process(place(order_id="o1"))
    assert run_server(shop, test_mode=True) == 0
    return ATTEMPTS.get("o1", 0)


@pytest.mark.parametrize(
    ("options", "error", "attempts"),
    [
        ({}, ConnectionError, 4),  # transient: the server's max_retries (3) + the first attempt
        ({"retries": 1}, ConnectionError, 2),
        ({}, ValueError, 4),  # an unexpected error (a bug, or a race): retried, as Protean does
        ({}, InvalidOperation, 1),  # a business error: dead-lettered at once
        ({"retries": 2, "retry_exceptions": [ValueError]}, ValueError, 3),  # declared retryable
        ({"retries": 2, "retry_exceptions": [KeyError]}, ValueError, 1),
        ({"subscription_profile": "debug"}, ConnectionError, 2),  # debug: max_retries 1
        ({"subscription_config": {"max_retries": 0}}, ConnectionError, 1),
    ],
)
def test_a_handler_s_retry_options_decide_how_often_it_is_tried(options, error, attempts):
    shop = build({"backoff": "fixed", **options}, error)
    dlq_enabled = options.get("subscription_profile") != "debug"
    try:
        assert run_one(shop) == attempts
        letters = dead_letter_store(shop).list()
        if dlq_enabled:
            (letter,) = letters
            assert letter.attempts == attempts and "flaky o1" in (letter.error or "")
        else:
            assert letters == []  # the debug profile drops instead (enable_dlq off)
    finally:
        shop.shutdown()


def test_profile_then_config_then_retries_set_the_handler_settings():
    base = EngineSettings()
    assert handler_settings(base, {}) is base
    fast = handler_settings(base, {"subscription_profile": "fast"})
    assert (fast.messages_per_tick, fast.max_retries) == (10, 2)
    tuned = handler_settings(
        base, {"subscription_profile": "fast", "subscription_config": {"messages_per_tick": 3}, "retries": 7}
    )
    assert (tuned.messages_per_tick, tuned.max_retries, tuned.blocking_timeout_ms) == (3, 7, 100)


def test_a_command_older_than_its_handler_timeout_is_not_run():
    shop = build({}, ValueError)
    place = shop.elements["PlaceOrder"]  # type: ignore[attr-defined]
    handler = next(iter(shop.registry.of_kind("command_handler").values()))
    command = place(order_id="o2")
    command._metadata.time = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    assert command_expired(handler, command) is True
    command._metadata.time = dt.datetime.now(dt.UTC)
    assert command_expired(handler, command) is False
    shop.shutdown()


def test_a_queued_command_past_its_own_deadline_is_not_run_by_the_worker():
    shop = build({}, ValueError)
    place = shop.elements["PlaceOrder"]  # type: ignore[attr-defined]
    order_cls = next(iter(shop.registry.of_kind("aggregate").values()))
    try:
        with shop.domain_context():
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=200)
            shop.process(place(order_id="late"), deadline=soon)  # accepted: not yet expired
            shop.process(place(order_id="timely"), timeout=dt.timedelta(hours=1))
        time.sleep(0.3)  # the worker picks "late" up after its deadline
        assert run_server(shop, test_mode=True) == 0
        with shop.domain_context():
            orders = shop.repository_for(order_cls)
            assert orders.get("timely").order_id == "timely"
            with pytest.raises(ObjectNotFoundError):
                orders.get("late")
        # not a failure: dropped with a warning (the only letter is the flaky event handler's, for "timely")
        letters = dead_letter_store(shop).list()
        assert [letter.subscription.rsplit(".", 1)[-1] for letter in letters] == ["Flaky"]
    finally:
        shop.shutdown()
