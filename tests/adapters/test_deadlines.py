"""Process-manager deadlines and compensations, on every storage provider."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseCommandHandler,
    BaseEvent,
    BaseProcessManager,
    current_domain,
    handle,
)
from archipel.errors import IncorrectUsageError
from archipel.fields import Identifier, Integer, List, String
from archipel.handling.deadlines import pending_deadlines
from tests.adapters.conftest import SQL_PROVIDERS, start

LATER = 3600.0


class Shop:
    def __init__(self, domain: Any, **classes: Any) -> None:
        self.domain = domain
        self.__dict__.update(classes)


def define(domain: Any, log: list[str]) -> Shop:
    @domain.aggregate
    class Order(BaseAggregate):
        state = String(default="new")
        released = List(content_type=String)

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()
        items = List(content_type=String)

    @domain.event(part_of=Order)
    class Paid(BaseEvent):
        order_id = Identifier()

    @domain.event(part_of=Order)
    class PaymentOverdue(BaseEvent):
        order_id = Identifier()

    @domain.event(part_of=Order)
    class Reminder(BaseEvent):
        order_id = Identifier()

    @domain.command(part_of=Order)
    class Release(BaseCommand):
        order_id = Identifier()
        item = String()

    @domain.command(part_of=Order)
    class Cancel(BaseCommand):
        order_id = Identifier()

    @domain.command_handler(part_of=Order)
    class Orders(BaseCommandHandler):
        @handle(Release)
        def release(self, command: Release) -> None:
            log.append(f"release {command.item}")
            repo = current_domain.repository_for(Order)
            order = repo.get(command.order_id)
            order.released = [*order.released, command.item]
            repo.add(order)

        @handle(Cancel)
        def cancel(self, command: Cancel) -> None:
            log.append("cancel")
            repo = current_domain.repository_for(Order)
            order = repo.get(command.order_id)
            order.state = "cancelled"
            repo.add(order)

    @domain.process_manager(aggregates=[Order])
    class Checkout(BaseProcessManager):
        order_id = Identifier()
        status = String(default="new")
        reminders = Integer(default=0)

        @handle(Placed, start=True, correlate="order_id")
        def placed(self, event: Placed) -> None:
            self.order_id = event.order_id
            self.status = "awaiting payment"
            self.add_compensation(Cancel(order_id=event.order_id))
            for item in event.items:  # a step each, undone in reverse order
                self.add_compensation(Release(order_id=event.order_id, item=item))
            self.schedule(PaymentOverdue(order_id=event.order_id), after=dt.timedelta(minutes=15))
            self.schedule(Reminder(order_id=event.order_id), after=60)

        @handle(Paid, correlate="order_id", end=True)
        def paid(self, event: Paid) -> None:
            self.cancel_deadlines(PaymentOverdue)
            self.status = "paid"

        @handle(Reminder, correlate="order_id")
        def remind(self, event: Reminder) -> None:
            if log and log[-1] == "fail the reminder":
                raise RuntimeError("mail server down")
            self.reminders += 1

        @handle(PaymentOverdue, correlate="order_id", end=True)
        def overdue(self, event: PaymentOverdue) -> None:
            self.compensate()
            self.compensate()  # a second call finds nothing left to undo
            self.status = "cancelled: no payment"

    start(domain)
    return Shop(domain, Order=Order, Placed=Placed, Paid=Paid, Checkout=Checkout, Release=Release)


@pytest.fixture
def shop(make_domain: Any) -> Any:
    log: list[str] = []
    domain = make_domain()
    model = define(domain, log)
    model.log = log  # type: ignore[attr-defined]
    with domain.domain_context():
        yield model


def _place(shop: Shop, items: list[str]) -> str:
    order = shop.Order()
    order.raise_(shop.Placed(order_id=order.id, items=items))
    shop.domain.repository_for(shop.Order).add(order)
    return str(order.id)


def _pm(shop: Shop, order_id: str) -> Any:
    return shop.domain.repository_for(shop.Checkout).get(order_id)


def test_a_deadline_fires_once_when_due_and_not_before(shop: Shop) -> None:
    order_id = _place(shop, [])
    assert shop.domain.fire_due_deadlines() == 0  # nothing due yet
    assert len(pending_deadlines(shop.domain, shop.Checkout)) == 2
    assert shop.domain.fire_due_deadlines(now=time.time() + 61) == 1  # the reminder only
    assert _pm(shop, order_id).reminders == 1
    assert shop.domain.fire_due_deadlines(now=time.time() + 61) == 0  # once
    assert shop.domain.fire_due_deadlines(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)) == 1
    assert _pm(shop, order_id).status == "cancelled: no payment"
    assert pending_deadlines(shop.domain) == []


def test_cancelled_deadlines_never_fire_and_completed_instances_ignore_the_rest(shop: Shop) -> None:
    order_id = _place(shop, ["book"])
    order = shop.domain.repository_for(shop.Order).get(order_id)
    order.raise_(shop.Paid(order_id=order_id))
    shop.domain.repository_for(shop.Order).add(order)
    assert [d["message_type"].split(".")[1] for d in pending_deadlines(shop.domain)] == ["Reminder"]
    assert shop.domain.fire_due_deadlines(now=time.time() + LATER) == 1  # fires into nothing
    pm = _pm(shop, order_id)
    assert (pm.status, pm.reminders) == ("paid", 0)
    assert shop.log == []  # no compensation ran


def test_compensations_run_latest_first_and_once(shop: Shop) -> None:
    order_id = _place(shop, ["book", "pen"])
    shop.domain.fire_due_deadlines(now=time.time() + LATER)
    assert shop.log == ["release pen", "release book", "cancel"]
    order = shop.domain.repository_for(shop.Order).get(order_id)
    assert (order.state, order.released) == ("cancelled", ["pen", "book"])


def test_a_failing_deadline_stays_pending_and_fires_after_the_fix(shop: Shop) -> None:
    order_id = _place(shop, [])
    shop.log.append("fail the reminder")
    assert shop.domain.fire_due_deadlines(now=time.time() + 61) == 0
    (reminder,) = [d for d in pending_deadlines(shop.domain) if "Reminder" in d["message_type"]]
    assert reminder["attempts"] == 1 and "mail server down" in reminder["error"]
    shop.log.clear()
    assert shop.domain.fire_due_deadlines(now=time.time() + 61) == 1
    assert _pm(shop, order_id).reminders == 1


def test_concurrent_firers_fire_each_deadline_once(shop: Shop, provider: str) -> None:
    order_ids = [_place(shop, []) for _ in range(5)]
    fired: list[int] = []

    def fire() -> None:
        with shop.domain.domain_context():
            fired.append(shop.domain.fire_due_deadlines(now=time.time() + 61))

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(fired) == 5
    assert [_pm(shop, o).reminders for o in order_ids] == [1] * 5


def test_schedule_needs_after_or_at(shop: Shop) -> None:
    pm = shop.Checkout()
    with pytest.raises(IncorrectUsageError):
        pm.schedule(object())
    with pytest.raises(IncorrectUsageError):
        pm.schedule(object(), after=1, at=dt.datetime.now(dt.UTC))


@pytest.mark.parametrize("provider", SQL_PROVIDERS)
def test_database_setup_creates_the_deadline_table_with_indexes_matching_its_queries(
    make_domain: Any, storage: dict[str, Any]
) -> None:
    import sqlalchemy as sa

    domain = make_domain()
    define(domain, [])  # init + database setup, before any deadline is scheduled
    engine = sa.create_engine(storage["databases"]["default"]["database_uri"])
    try:
        inspector = sa.inspect(engine)
        table = f"archipel_{domain.snake_name}_deadlines"
        assert table in inspector.get_table_names()
        indexed = {tuple(index["column_names"]) for index in inspector.get_indexes(table)}
    finally:
        engine.dispose()
    # an instance's own rows (cancel, compensate) and the due ones (fire, status pages)
    assert {("process_manager", "correlation", "state"), ("state", "due_at")} <= indexed
