"""Protean's ``handle_error(exc, message)`` hook: ``archipel server`` calls it at each failed attempt."""

from __future__ import annotations

import logging
import uuid

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseEventHandler,
    BaseSubscriber,
    Domain,
    handle,
)
from archipel.engine import run_server
from archipel.engine.dlq import dead_letter_store
from archipel.engine.failures import own_error_hook
from archipel.fields import Integer, String
from archipel.utils.eventing import Message
from tests.engine.conftest import ASYNC_MEMORY, server_config


def _shop(hook_raises: bool = False) -> tuple[Domain, type, list]:
    domain = Domain(
        name=f"Shop{uuid.uuid4().hex[:6]}", config={**ASYNC_MEMORY, "server": server_config(max_retries=2)}
    )
    calls: list = []

    @domain.aggregate
    class Order(BaseAggregate):
        item = String()
        quantity = Integer()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        item = String()
        quantity = Integer()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        item = String()
        quantity = Integer()

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(Place)
        def place(self, command):
            order = Order(item=command.item, quantity=command.quantity)
            order.raise_(Placed(item=command.item, quantity=command.quantity))
            domain.repository_for(Order).add(order)

    @domain.event_handler(part_of=Order)
    class Shipping(BaseEventHandler):
        @handle(Placed)
        def ship(self, event):
            if event.quantity < 0:
                raise TimeoutError(f"carrier down for {event.item}")  # transient: retried

        @classmethod
        def handle_error(cls, exc, message):
            calls.append((cls.__name__, type(exc).__name__, str(exc), message))
            if hook_raises:
                raise RuntimeError("the hook itself fails")

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
    return domain, Place, calls


def test_handle_error_is_called_at_each_failed_attempt_with_the_stored_message():
    domain, place, calls = _shop()
    with domain.domain_context():
        domain.process(place(item="bad", quantity=-1))
        domain.process(place(item="good", quantity=1))
    assert run_server(domain, test_mode=True) == 0
    assert [c[:3] for c in calls] == [("Shipping", "TimeoutError", "carrier down for bad")] * 3  # 1 + 2 retries
    message = calls[0][3]
    assert isinstance(message, Message)
    assert message.data["item"] == "bad" and message.metadata.headers.type.endswith("Placed.v1")
    (letter,) = dead_letter_store(domain).list()  # the failure still goes to the dead-letter queue
    assert letter.payload["data"]["item"] == "bad"
    domain.shutdown()


def test_a_failing_hook_is_logged_and_changes_nothing(caplog):
    domain, place, calls = _shop(hook_raises=True)
    caplog.set_level(logging.ERROR, logger="archipel.engine.consumer")
    with domain.domain_context():
        domain.process(place(item="bad", quantity=-1))
    assert run_server(domain, test_mode=True) == 0
    assert len(calls) == 3
    assert len(dead_letter_store(domain).list()) == 1
    hook_lines = [r for r in caplog.records if "its handle_error raised" in r.getMessage()]
    assert len(hook_lines) == 3 and "the hook itself fails" in (hook_lines[0].exc_text or "")
    domain.shutdown()


def test_only_a_handler_s_own_hook_is_called():
    class Plain(BaseEventHandler):
        pass

    class Own(BaseSubscriber):
        @classmethod
        def handle_error(cls, exc, message):
            pass

    assert own_error_hook(Plain) is None
    assert own_error_hook(type("Undecorated", (), {})) is None
    assert own_error_hook(Own) is not None
