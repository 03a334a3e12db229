"""A whole domain on every provider: commands, reloads, projections, process managers,
and state + events + outbox committing together or not at all."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEntity,
    BaseEvent,
    BaseEventHandler,
    BaseProcessManager,
    BaseProjection,
    BaseProjector,
    BaseValueObject,
    Q,
    current_domain,
    handle,
)
from archipel.errors import DatabaseError, ExpectedVersionError
from archipel.fields import HasMany, Identifier, Integer, List, String, ValueObject
from tests.adapters.conftest import start


class Shop:
    """The elements of one test domain."""


@pytest.fixture
def shop(make_domain):
    domain = make_domain(enable_outbox=True)
    handled: list[str] = []

    @domain.value_object
    class Address(BaseValueObject):
        street = String(max_length=100)
        city = String(max_length=50)

    @domain.aggregate
    class Order(BaseAggregate):
        customer = String(max_length=50, required=True)
        status = String(max_length=20, default="open")
        shipping = ValueObject(Address)
        lines = HasMany("Line")

        def add_line(self, sku: str, quantity: int) -> None:
            self.add_lines(Line(sku=sku, quantity=quantity))
            self.raise_(LineAdded(order_id=self.id, sku=sku, quantity=quantity))

    @domain.entity(part_of=Order)
    class Line(BaseEntity):
        sku = String(max_length=20)
        quantity = Integer()

    @domain.event(part_of=Order)
    class LineAdded(BaseEvent):
        order_id = Identifier()
        sku = String()
        quantity = Integer()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()
        customer = String()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        order_id = Identifier()
        customer = String()
        city = String()
        skus = List(content_type=String)

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(Place)
        def place(self, command):
            order = Order(
                id=command.order_id,
                customer=command.customer,
                shipping=Address(street="1 Main St", city=command.city),
            )
            for sku in command.skus:
                order.add_line(sku, 1)
            order.status = "placed"
            order.raise_(Placed(order_id=order.id, customer=command.customer))
            current_domain.repository_for(Order).add(order)

    @domain.event_handler(part_of=Order)
    class Audit(BaseEventHandler):
        @handle(Placed)
        def placed(self, event):
            handled.append(event.order_id)

    @domain.projection
    class CustomerOrders(BaseProjection):
        customer = Identifier(identifier=True)
        orders = Integer(default=0)
        lines = Integer(default=0)

    @domain.projector(projector_for=CustomerOrders, aggregates=[Order])
    class Counts(BaseProjector):
        @handle(Placed)
        def placed(self, event):
            repo = current_domain.repository_for(CustomerOrders)
            row = repo.get_or_none(event.customer) or CustomerOrders(customer=event.customer)
            row.orders += 1
            repo.add(row)

        @handle(LineAdded)
        def line(self, event):
            repo = current_domain.repository_for(CustomerOrders)
            order = current_domain.repository_for(Order).get(event.order_id)
            row = repo.get_or_none(order.customer) or CustomerOrders(customer=order.customer)
            row.lines += event.quantity
            repo.add(row)

    @domain.process_manager(aggregates=[Order])
    class Fulfilment(BaseProcessManager):
        order_id = Identifier()
        skus = List(content_type=String)

        @handle(LineAdded, start=True, correlate="order_id")
        def line(self, event):
            self.order_id = event.order_id
            self.skus = [*self.skus, event.sku]

        @handle(Placed, correlate="order_id", end=True)
        def placed(self, event):
            self.skus = [*self.skus, "placed"]

    start(domain)
    elements = Shop()
    elements.__dict__.update(
        domain=domain,
        Order=Order,
        Place=Place,
        Placed=Placed,
        CustomerOrders=CustomerOrders,
        Fulfilment=Fulfilment,
        handled=handled,
    )
    with domain.domain_context():
        yield elements


def test_commands_store_state_events_outbox_and_update_read_models(shop):
    domain = shop.domain
    domain.process(shop.Place(order_id="o1", customer="ann", city="Lyon", skus=["a", "b"]))
    domain.process(shop.Place(order_id="o2", customer="ann", city="Oslo", skus=["c"]))

    order = domain.repository_for(shop.Order).get("o1")
    assert order.customer == "ann" and order.status == "placed"
    assert order.shipping.city == "Lyon"
    assert sorted(line.sku for line in order.lines) == ["a", "b"]
    assert order._version == 0

    stream = f"{shop.Order._meta.stream_category}-o1"
    events = domain.event_store.read_stream(stream)
    assert [e["metadata"]["type"].split(".")[1] for e in events] == [
        "LineAdded",
        "LineAdded",
        "Placed",
    ]
    assert [e["metadata"]["position"] for e in events] == [0, 1, 2]
    command = events[0]["metadata"]["causation_id"]
    assert domain.event_store.read_correlated(command)[0]["metadata"]["kind"] == "COMMAND"

    outbox = domain.providers.database().outbox()
    assert outbox.pending_count() == 5  # every event, not the commands
    assert shop.handled == ["o1", "o2"]

    ann = domain.query_for(shop.CustomerOrders).get("ann")
    assert (ann.orders, ann.lines) == (2, 3)
    assert domain.query_for(shop.CustomerOrders).find(Q(lines__gte=3)).total == 1

    pm = domain.repository_for(shop.Fulfilment).get("o1")
    assert pm.skus == ["a", "b", "placed"] and pm.is_complete


def test_a_changed_aggregate_reloads_with_its_new_version(shop):
    domain = shop.domain
    domain.process(shop.Place(order_id="o1", customer="ann", city="Lyon", skus=["a"]))
    repo = domain.repository_for(shop.Order)
    order = repo.get("o1")
    order.add_line("z", 3)
    order.status = "amended"
    repo.add(order)
    again = repo.get("o1")
    assert again._version == 1 and again.status == "amended"
    assert sorted((line.sku, line.quantity) for line in again.lines) == [("a", 1), ("z", 3)]
    positions = [
        e["metadata"]["position"]
        for e in domain.event_store.read_stream(f"{shop.Order._meta.stream_category}-o1")
    ]
    assert positions == [0, 1, 2]

    first, second = repo.get("o1"), repo.get("o1")
    first.status = "first"
    repo.add(first)
    second.status = "second"
    with pytest.raises(ExpectedVersionError):
        repo.add(second)
    assert repo.get("o1").status == "first"


def test_state_events_and_outbox_commit_together_or_not_at_all(shop):
    domain = shop.domain
    store = domain.event_store
    outbox = domain.providers.database().outbox()
    stream = f"{shop.Order._meta.stream_category}-o1"
    # another writer already holds position 0 of the order's stream: the append fails
    # after the order row was sent, inside the same database transaction
    intruder = shop.Placed(order_id="o1", customer="intruder")
    meta = intruder._metadata
    meta.id, meta.stream, meta.position, meta.type = "intruder-1", stream, 0, "x.Placed.v1"
    store.append([intruder])
    before = len(store.read_all())

    with pytest.raises(ExpectedVersionError):
        domain.process(shop.Place(order_id="o1", customer="ann", city="Lyon", skus=["a"]))

    assert domain.repository_for(shop.Order).get_or_none("o1") is None
    assert len(store.read_all()) == before  # not even the command
    assert outbox.pending_count() == 0
    assert domain.query_for(shop.CustomerOrders).get_or_none("ann") is None
    assert shop.handled == []


def test_a_failing_event_store_leaves_no_state_behind(shop, monkeypatch):
    domain = shop.domain
    store = domain.event_store

    def broken(*_args, **_kwargs):
        raise RuntimeError("event store down")

    # the store's write, wherever the commit makes it: ``append`` (a transaction's), or, in a
    # command's one-row commit (``commit_row``), the events' rows of its statement (SQLite's
    # insert, PostgreSQL's bind values), where the driver-level error is translated
    for name in ("append", "_append_sqlite", "params"):
        if hasattr(store, name):
            monkeypatch.setattr(store, name, broken)
    with pytest.raises((RuntimeError, DatabaseError), match="event store down"):
        domain.process(shop.Place(order_id="o1", customer="ann", city="Lyon", skus=["a"]))
    monkeypatch.undo()
    assert domain.repository_for(shop.Order).get_or_none("o1") is None
    assert store.read_all() == []
    assert domain.providers.database().outbox().pending_count() == 0
