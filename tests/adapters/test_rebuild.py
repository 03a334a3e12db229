"""Projection rebuild from the event store, on every storage provider."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from archipel import (
    BaseAggregate,
    BaseEvent,
    BaseProjection,
    BaseUpcaster,
    Domain,
    current_domain,
    handle,
)
from archipel.core.message import Metadata, new_message_id, utcnow
from archipel.errors import DeserializationError
from archipel.fields import Identifier, Integer, String
from archipel.handling.rebuild import rebuild_records, rebuild_schema
from tests.adapters.conftest import start


class Shop:
    def __init__(self, domain: Domain, **classes: Any) -> None:
        self.domain = domain
        self.__dict__.update(classes)


def define(domain: Domain) -> Shop:
    @domain.aggregate
    class Customer(BaseAggregate):
        name = String(max_length=50)

    @domain.aggregate
    class Order(BaseAggregate):
        customer_id = Identifier()
        amount = Integer()

    @domain.event(part_of=Customer)
    class Registered(BaseEvent):
        customer_id = Identifier()
        name = String()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        __version__ = 2
        customer_id = Identifier()
        amount = Integer()  # v1: "cents"

    @domain.event(part_of=Order)
    class Cancelled(BaseEvent):
        customer_id = Identifier()
        amount = Integer()

    @domain.upcaster(event_type=Placed, from_version=1, to_version=2)
    class PlacedInCents(BaseUpcaster):
        def upcast(self, data: dict[str, Any]) -> dict[str, Any]:
            return {"customer_id": data["customer_id"], "amount": data["cents"] // 100}

    @domain.projection
    class Spending(BaseProjection):
        customer_id = Identifier(identifier=True)
        name = String(max_length=50)
        orders = Integer(default=0)
        total = Integer(default=0)

    @domain.projector(projector_for=Spending, aggregates=[Customer, Order])
    class SpendingProjector:
        @handle(Registered)
        def registered(self, event: Registered) -> None:
            current_domain.repository_for(Spending).add(Spending(customer_id=event.customer_id, name=event.name))

        @handle(Placed)
        def placed(self, event: Placed) -> None:
            repo = current_domain.repository_for(Spending)
            row = repo.get(event.customer_id)
            if event.amount < 0:
                raise ValueError("a negative order")
            row.orders += 1
            row.total += event.amount
            repo.add(row)

        @handle(Cancelled)
        def cancelled(self, event: Cancelled) -> None:
            repo = current_domain.repository_for(Spending)
            row = repo.get(event.customer_id)
            row.orders -= 1
            row.total -= event.amount
            if row.orders == 0 and row.name == "gone":
                repo.remove(row)
            else:
                repo.add(row)

    start(domain)
    return Shop(domain, Customer=Customer, Order=Order, Registered=Registered, Placed=Placed,
                Cancelled=Cancelled, Spending=Spending)


@pytest.fixture
def shop(make_domain: Any) -> Any:
    domain = make_domain()
    model = define(domain)
    with domain.domain_context():
        yield model


def _customer(shop: Shop, name: str) -> str:
    customer = shop.Customer(name=name)
    customer.raise_(shop.Registered(customer_id=customer.id, name=name))
    shop.domain.repository_for(shop.Customer).add(customer)
    return str(customer.id)


def _order(shop: Shop, customer_id: str, amount: int, cancel: bool = False) -> None:
    order = shop.Order(customer_id=customer_id, amount=amount)
    order.raise_(shop.Placed(customer_id=customer_id, amount=amount))
    if cancel:
        order.raise_(shop.Cancelled(customer_id=customer_id, amount=amount))
    shop.domain.repository_for(shop.Order).add(order)


def _rows(shop: Shop) -> list[tuple[Any, ...]]:
    rows = shop.domain.query_for(shop.Spending).all().items
    return sorted((r.customer_id, r.name, r.orders, r.total) for r in rows)


def _history(shop: Shop) -> list[tuple[Any, ...]]:
    ann, bob, gone = _customer(shop, "ann"), _customer(shop, "bob"), _customer(shop, "gone")
    for amount in (5, 7, 11):
        _order(shop, ann, amount)
    _order(shop, bob, 3, cancel=True)
    _order(shop, bob, 4)
    _order(shop, gone, 9, cancel=True)  # the projector deletes gone's row
    return _rows(shop)


@pytest.mark.parametrize("batch_size", [1, 3, 500])
def test_a_rebuild_gives_the_rows_live_projection_gave_and_twice_the_same(shop: Shop, batch_size: int) -> None:
    live = _history(shop)
    assert len(live) == 2
    # damage the read model: a row lost, a row changed
    repo = shop.domain.repository_for(shop.Spending)
    repo.remove(repo.get(live[0][0]))
    row = repo.get(live[1][0])
    row.total = 999
    repo.add(row)
    result = shop.domain.rebuild_projection(shop.Spending, batch_size=batch_size)
    assert _rows(shop) == live
    assert result.success and result.events_dispatched == 11
    assert result.projectors_processed == 1 and result.categories_processed == 2
    again = shop.domain.rebuild_projection(shop.Spending, batch_size=batch_size)
    assert _rows(shop) == live and again.events_dispatched == 11
    assert rebuild_records(shop.domain)["Spending"]["state"] == "done"


def test_old_versions_are_upcast_during_a_rebuild(shop: Shop) -> None:
    ann = _customer(shop, "ann")
    order_id = str(uuid.uuid4())
    stream = f"{shop.Order._meta.stream_category}-{order_id}"

    class Old:  # a Placed.v1 as an older release stored it
        def __init__(self) -> None:
            self._metadata = Metadata(id=new_message_id(), type=f"{shop.domain.type_prefix}.Placed.v1",
                                      kind="EVENT", stream=stream, time=utcnow(), version=1, position=0)

        def to_dict(self) -> dict[str, Any]:
            return {"customer_id": ann, "cents": 2500}

    shop.domain.event_store.append([Old()])
    shop.domain.rebuild_projection(shop.Spending)
    assert _rows(shop) == [(ann, "ann", 1, 25)]


def test_an_undecodable_event_stops_the_rebuild_loudly(shop: Shop) -> None:
    ann = _customer(shop, "ann")

    class Future:  # a version no upcaster reaches
        def __init__(self) -> None:
            self._metadata = Metadata(id=new_message_id(), type=f"{shop.domain.type_prefix}.Placed.v7",
                                      kind="EVENT", stream=f"{shop.Order._meta.stream_category}-x",
                                      time=utcnow(), version=7, position=0)

        def to_dict(self) -> dict[str, Any]:
            return {"customer_id": ann}

    shop.domain.event_store.append([Future()])
    with pytest.raises(DeserializationError, match="v7"):
        shop.domain.rebuild_projection(shop.Spending)
    record = rebuild_records(shop.domain)["Spending"]
    assert record["state"] == "failed" and "v7" in record["error"]


def test_a_failing_projector_stops_the_rebuild_and_is_recorded(shop: Shop) -> None:
    ann = _customer(shop, "ann")
    _order(shop, ann, 5)
    order = shop.Order(customer_id=ann, amount=-1)
    order.raise_(shop.Placed(customer_id=ann, amount=-1))
    # stored without running projectors (as if the projector was fixed since)
    shop.domain.event_store.append(order._events)
    with pytest.raises(ValueError, match="negative"):
        shop.domain.rebuild_projection(shop.Spending)
    assert "negative" in rebuild_records(shop.domain)["Spending"]["error"]


def test_rebuild_all_projections(shop: Shop) -> None:
    live = _history(shop)
    results = shop.domain.rebuild_all_projections()
    assert list(results) == ["Spending"] and results["Spending"].success
    assert _rows(shop) == live


def test_a_rebuild_records_its_outcome_even_when_that_table_was_dropped_since(shop: Shop) -> None:
    # the table of outcomes is set up once per process; dropped since, it is set up again
    live = _history(shop)
    shop.domain.rebuild_projection(shop.Spending)
    assert rebuild_records(shop.domain)["Spending"]["state"] == "done"
    database = shop.domain.providers.database("default")
    outcomes = rebuild_schema(shop.domain)
    engine = getattr(database, "engine", None)
    if engine is not None:  # only that table (drop() takes the framework's tables with it)
        engine.execute_ddl([sa.schema.DropTable(database.record_table(outcomes).table)])
    else:
        database.drop([outcomes])
    assert rebuild_records(shop.domain) == {}
    shop.domain.rebuild_projection(shop.Spending)
    assert _rows(shop) == live
    record = rebuild_records(shop.domain)["Spending"]
    assert (record["state"], record["events"]) == ("done", 11)
