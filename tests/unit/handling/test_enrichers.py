"""Message enrichers stamp metadata extensions; aggregate enrichers stamp audit fields."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, current_domain, handle
from archipel.core.message import Metadata
from archipel.errors import IncorrectUsageError
from archipel.fields import Identifier, String
from tests.unit._support import start

ACTOR = {"user": "ann"}


def build(make_domain):
    shop = make_domain("Shop")
    seen: list[dict] = []

    @shop.aggregate
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)
        created_by = String()
        updated_by = String()
        note = String()

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
            seen.append({"command": dict(command._metadata.extensions)})
            order = Order(order_id=command.order_id)
            order.raise_(OrderPlaced(order_id=command.order_id))
            current_domain.repository_for(Order).add(order)

    @shop.event_handler(part_of=Order)
    class Listener:
        @handle(OrderPlaced)
        def on_placed(self, event):
            seen.append({"event": dict(event._metadata.extensions)})

    @shop.event_enricher
    def tenant(event, aggregate):
        return {"tenant": "acme", "by": "first", "order": aggregate.order_id}

    def later(event, aggregate):
        return {"by": "second"}

    shop.register_event_enricher(later)

    @shop.command_enricher
    def request(command):
        return {"request_id": "r-1", "user": ACTOR["user"]}

    @shop.aggregate_enricher
    def audit(aggregate):
        aggregate.updated_by = ACTOR["user"]
        if aggregate.created_by is None:
            aggregate.created_by = ACTOR["user"]

    start(shop)
    return shop, Order, PlaceOrder, seen


def test_enrichers_stamp_extensions_on_the_sync_path_and_later_ones_win(make_domain):
    shop, order_cls, place, seen = build(make_domain)
    with shop.domain_context():
        shop.process(place(order_id="o1"))
    assert seen == [
        {"command": {"request_id": "r-1", "user": "ann"}},
        {"event": {"tenant": "acme", "by": "second", "order": "o1"}},
    ]
    stored = shop.event_store.read_stream(f"{order_cls._meta.stream_category}-o1")
    assert stored[-1]["metadata"]["extensions"] == {"tenant": "acme", "by": "second", "order": "o1"}
    commands = [m for m in shop.event_store.read_all() if m["metadata"]["kind"] == "COMMAND"]
    assert commands[0]["metadata"]["extensions"] == {"request_id": "r-1", "user": "ann"}


def test_aggregate_enricher_stamps_audit_fields_on_create_and_update(make_domain):
    shop, order_cls, place, _ = build(make_domain)
    with shop.domain_context():
        ACTOR["user"] = "ann"
        shop.process(place(order_id="o1"))
        repo = shop.repository_for(order_cls)
        order = repo.get("o1")
        assert (order.created_by, order.updated_by) == ("ann", "ann")
        ACTOR["user"] = "bob"
        order.note = "gift"
        repo.add(order)
        order = repo.get("o1")
        assert (order.created_by, order.updated_by) == ("ann", "bob")
    ACTOR["user"] = "ann"


def test_extensions_survive_the_wire_form():
    meta = Metadata(id="m1", type="Shop.X.v1")
    meta.extensions["tenant"] = "acme"
    back = Metadata.from_dict(meta.to_dict())
    assert back.extensions == {"tenant": "acme"}
    assert "extensions" not in Metadata(id="m2").to_dict()  # nothing stamped: nothing stored
    copy = back.copy()
    copy.extensions["x"] = 1
    assert back.extensions == {"tenant": "acme"}


def test_an_enricher_that_fails_stops_the_event(make_domain):
    shop, order_cls, place, seen = build(make_domain)

    @shop.event_enricher
    def broken(event, aggregate):
        raise RuntimeError("no tenant")

    with shop.domain_context(), pytest.raises(RuntimeError, match="no tenant"):
        shop.process(place(order_id="o9"))
    assert [s for s in seen if "event" in s] == []
    with shop.domain_context():
        assert shop.event_store.read_stream(f"{order_cls._meta.stream_category}-o9") == []


def test_enrichers_must_be_callables_returning_dicts(make_domain):
    shop, _, place, _ = build(make_domain)
    with pytest.raises(IncorrectUsageError):
        shop.register_command_enricher("not callable")  # type: ignore[arg-type]
    shop.register_command_enricher(lambda command: ["not", "a", "dict"])  # type: ignore[arg-type,return-value]
    with shop.domain_context(), pytest.raises(IncorrectUsageError, match="must return a dict"):
        shop.process(place(order_id="o2"))
