"""``domain.clock`` (Protean's injectable clock): every time archipel stamps comes from it."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, handle
from archipel.errors import CommandExpiredError, IncorrectUsageError
from archipel.fields import DateTime, String
from archipel.utils import Clock, SystemClock
from archipel.utils.clock import clock_time, domain_now

T0 = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class Frozen:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


@pytest.fixture
def shop():
    domain = Domain(name="Clocked")
    seen: dict[str, object] = {}

    @domain.aggregate
    class Order(BaseAggregate):
        item = String()
        placed_at = DateTime(auto_now_add=True)
        touched_at = DateTime(auto_now=True)

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        item = String()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        item = String()

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(Place)
        def place(self, command):
            seen["command_time"] = command._metadata.time
            order = Order(item=command.item)
            order.raise_(Placed(item=command.item))
            seen["event_time"] = order._events[-1]._metadata.time
            domain.repository_for(Order).add(order)
            return order.id

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        yield domain, Order, Place, seen


def test_a_frozen_clock_stamps_commands_events_and_auto_now_fields(shop):
    domain, order_cls, place, seen = shop
    assert isinstance(domain.clock, SystemClock) and isinstance(domain.clock, Clock)
    domain.clock = Frozen(T0)
    order_id = domain.process(place(item="pen"))
    assert seen == {"command_time": T0, "event_time": T0}
    order = domain.repository_for(order_cls).get(order_id)
    assert order.placed_at == T0 and order.touched_at == T0
    stored = [m for m in domain.event_store.read_all() if m["metadata"]["type"].endswith("Placed.v1")]
    assert [m["metadata"]["time"] for m in stored] in ([T0], [T0.isoformat()])


def test_auto_now_moves_with_the_clock_and_auto_now_add_does_not(shop):
    domain, order_cls, place, _ = shop
    domain.clock = Frozen(T0)
    order_id = domain.process(place(item="pen"))
    later = T0 + dt.timedelta(hours=1)
    domain.clock = Frozen(later)
    repo = domain.repository_for(order_cls)
    order = repo.get(order_id)
    order.item = "ink"
    repo.add(order)
    order = repo.get(order_id)
    assert (order.placed_at, order.touched_at) == (T0, later)


def test_a_command_deadline_is_judged_by_the_domain_clock(shop):
    domain, _, place, _ = shop
    domain.clock = Frozen(T0)
    with pytest.raises(CommandExpiredError):
        domain.process(place(item="late"), deadline=T0 - dt.timedelta(seconds=1))
    domain.process(place(item="on time"), deadline=T0 + dt.timedelta(seconds=1))
    command = place(item="timed")
    domain.process(command, timeout=dt.timedelta(minutes=5))  # counted from the frozen now


def test_outside_a_domain_context_the_system_clock_is_used(shop):
    domain, *_ = shop
    domain.clock = Frozen(T0)
    with Domain(name="Other").domain_context():
        assert domain_now() != T0  # the innermost active domain's clock
    assert domain_now() == T0


def test_a_clock_needs_now():
    with pytest.raises(IncorrectUsageError, match="an object with a now\\(\\) method"):
        Domain(name="Bad").clock = object()


@given(st.datetimes(timezones=st.none() | st.timezones()))
def test_a_clock_s_time_is_always_aware_utc_and_the_same_instant(value):
    stamped = clock_time(Frozen(value))
    assert stamped.tzinfo is dt.UTC
    expected = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    assert stamped == expected  # (compared in UTC: PEP 495 makes times in a fold unequal across zones)
