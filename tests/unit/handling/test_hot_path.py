"""What the hot path builds without constructor calls equals what the constructors build, and
the outermost ``process`` call (one scope for its handler and the drain) leaves every handler
its own domain, unit of work and message, and the caller's scope as it was."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, current_domain, handle
from archipel.adapters.memory.database import MemoryDatabase, MemoryTransaction
from archipel.errors import TransactionError
from archipel.fields import Identifier, String
from archipel.handling.unit_of_work import UnitOfWork, handler_unit_of_work
from archipel.utils import globals as _context
from tests.unit._support import start


def _state(obj: object) -> dict[str, object]:
    """Every slot of ``obj`` (the classes here have slots only), containers by value."""
    return {name: getattr(obj, name) for klass in type(obj).__mro__ for name in getattr(klass, "__slots__", ())}


def test_a_handler_unit_of_work_has_the_state_of_a_new_unit_of_work(make_domain):
    domain = start(make_domain())
    message = object()
    built, made = handler_unit_of_work(domain, message), UnitOfWork(domain, message)
    assert type(built) is UnitOfWork
    assert _state(built) == _state(made)
    assert built._tracked is not made._tracked and built.committed_events is not made.committed_events


def test_a_begun_memory_transaction_has_the_state_of_a_new_one():
    db = MemoryDatabase()
    begun, made = db.begin(), MemoryTransaction(db)
    assert type(begun) is MemoryTransaction
    assert _state(begun) == _state(made)
    assert begun.writes is not db.begin().writes  # each its own buffers


@pytest.fixture
def two_domains(make_domain):
    """``Orders`` handles ``Place`` (raising ``Placed``); ``Orders`` and ``Audit`` both react to ``Placed``."""
    orders, audit = make_domain(), make_domain()
    seen: dict[str, tuple[object, ...]] = {}

    @orders.aggregate
    class Order(BaseAggregate):
        item = String()

    @orders.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()

    @orders.command(part_of=Order)
    class Place(BaseCommand):
        item = String()

    @orders.command_handler(part_of=Order)
    class Orders:
        @handle(Place)
        def place(self, command):
            if command.item == "fail":
                raise ValueError("refused")
            order = Order(item=command.item)
            order.raise_(Placed(order_id=order.id))
            current_domain.repository_for(Order).add(order)
            seen["command"] = (current_domain.name, _context.uow_var.get(), _context.current_message.get())
            return order.id

    @orders.event_handler(part_of=Order)
    class Mine:
        @handle(Placed)
        def on_placed(self, event):
            seen["orders"] = (current_domain.name, _context.uow_var.get(), _context.current_message.get())

    start(orders)  # Order's stream category is known from here on

    @audit.event_handler(stream_category=Order._meta.stream_category)
    class Theirs:
        @handle(Placed)
        def on_placed(self, event):
            seen["audit"] = (current_domain.name, _context.uow_var.get(), _context.current_message.get())

    start(audit)
    return orders, audit, Place, seen


@pytest.mark.parametrize("in_context", [True, False])
def test_every_handler_of_the_drain_has_its_own_scope_and_the_callers_is_restored(two_domains, in_context):
    orders, audit, Place, seen = two_domains
    if in_context:
        with orders.domain_context():
            before = _context.scope.get()
            orders.process(Place(item="book"))
            assert _context.scope.get() == before
    else:
        before = _context.scope.get()
        orders.process(Place(item="book"))
        assert _context.scope.get() == before
    name, command_uow, command = seen["command"]
    assert name == orders.name and isinstance(command, Place)
    for key, domain in (("orders", orders), ("audit", audit)):
        name, uow, message = seen[key]
        assert name == domain.name
        assert uow is not command_uow and uow.domain is domain and uow.message is message
        assert type(message).__name__ == "Placed"


def test_a_failing_command_handler_restores_the_scope_and_dispatches_nothing(two_domains):
    orders, _, Place, seen = two_domains
    before = _context.scope.get()
    with pytest.raises(ValueError, match="refused"):
        orders.process(Place(item="fail"))
    assert _context.scope.get() == before
    assert seen == {}


def _orders(domain):
    """Order, its Placed event and the Place command (whose handler stores an order that raised Placed)."""

    @domain.aggregate
    class Order(BaseAggregate):
        item = String()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        item = String()

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(Place)
        def place(self, command):
            order = Order(item=command.item)
            order.raise_(Placed(order_id=order.id))
            current_domain.repository_for(Order).add(order)

    return Order, Placed, Place


@pytest.mark.parametrize("fail_first", [True, False])
def test_routes_run_in_turn_each_in_its_own_scope_between_plain_and_other_routes(make_domain, fail_first):
    """One event, three routes of one domain: plain, idempotent (run by ``_run_route_once``),
    plain. Each sees its own unit of work and the event; a failing one is collected while the
    others still run and commit; the caller's scope is restored, after the drain and inside it."""
    domain = make_domain()
    seen: list[tuple[str, object, object, tuple[object, ...]]] = []

    Order, Placed, Place = _orders(domain)

    def note(name, event, fail):
        seen.append((name, _context.uow_var.get(), _context.current_message.get(), _context.scope.get()[0]))
        if fail:
            raise RuntimeError(f"{name} failed")

    @domain.event_handler(part_of=Order)
    class First:
        @handle(Placed)
        def on_placed(self, event):
            note("first", event, fail_first)

    @domain.event_handler(part_of=Order, idempotent=True)
    class Second:
        @handle(Placed)
        def on_placed(self, event):
            note("second", event, False)

    @domain.event_handler(part_of=Order)
    class Third:
        @handle(Placed)
        def on_placed(self, event):
            note("third", event, not fail_first)
            current_domain.repository_for(Order).add(Order(item="from third"))

    start(domain)
    before = _context.scope.get()
    with pytest.raises(TransactionError) as caught:
        domain.process(Place(item="book"))
    assert _context.scope.get() == before
    assert str(caught.value.__cause__) == ("first failed" if fail_first else "third failed")
    assert [name for name, *_ in seen] == ["first", "second", "third"]
    uows = [uow for _, uow, _, _ in seen]
    assert len({id(uow) for uow in uows}) == 3
    for _, uow, message, domains in seen:
        assert type(message).__name__ == "Placed" and uow.message is message and uow.domain is domain
        assert domains[-1] is domain
    with domain.domain_context():
        stored = {order.item for order in domain.repository_for(Order)._dao.query.all().items}
    assert stored == ({"book", "from third"} if fail_first else {"book"})


def _as_built(uow, message) -> bool:
    """Whether ``uow`` is as :func:`handler_unit_of_work` builds it for ``message``."""
    return _state(uow) == _state(handler_unit_of_work(uow.domain, message)) and type(uow) is UnitOfWork


def test_every_route_starts_with_a_unit_of_work_as_built_whatever_the_route_before_did(make_domain):
    """Untouched, read from, entered (``with current_uow``), registered an after-commit action,
    failed: the next route's unit of work is as built, the current one, holding the event."""
    domain = make_domain()
    entries: list[tuple[str, bool, object]] = []

    Order, Placed, Place = _orders(domain)

    actions = {
        "untouched": lambda event: None,
        "reads": lambda event: current_domain.repository_for(Order).get(event.order_id),
        "enters": lambda event: _context.uow_var.get().__enter__(),
        "registers": lambda event: _context.uow_var.get().after_commit(lambda: None),
        "fails": lambda event: (_ for _ in ()).throw(RuntimeError("refused")),
        "last": lambda event: None,
    }
    for name, action in actions.items():  # one event handler each, delivered in this order

        def on_placed(self, event, name=name, action=action):
            uow = _context.uow_var.get()
            entries.append((name, _as_built(uow, event) and _context.current_message.get() is event, uow))
            action(event)

        domain.event_handler(part_of=Order)(type(f"On_{name}", (), {"on_placed": handle(Placed)(on_placed)}))

    start(domain)
    before = _context.scope.get()
    with pytest.raises(TransactionError):
        domain.process(Place(item="book"))
    assert _context.scope.get() == before
    assert [(name, as_built) for name, as_built, _ in entries] == [(name, True) for name in actions]
