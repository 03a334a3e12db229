"""``domain.event_store.store``: Protean's reads of the event store (``read`` of a
stream, a category or ``$all``, ``read_last_message``, ``load_aggregate``) and its
``Message`` objects, on every provider."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseEvent, apply
from archipel.errors import NotSupportedError, ObjectNotFoundError
from archipel.fields import Identifier, Integer
from tests.adapters.conftest import start


@pytest.fixture
def bank(make_domain):
    domain = make_domain("Bank")

    @domain.aggregate(is_event_sourced=True)
    class Account(BaseAggregate):
        account_id = Identifier(identifier=True)
        balance = Integer(default=0)

        @apply
        def deposited(self, event: Deposited) -> None:
            self.balance += event.amount

    @domain.event(part_of=Account)
    class Deposited(BaseEvent):
        account_id = Identifier(required=True)
        amount = Integer(required=True)

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Account)
        for ident, amounts in (("a-1", (5, 7)), ("b-2", (1,))):
            account = Account(account_id=ident)
            for amount in amounts:
                account.raise_(Deposited(account_id=ident, amount=amount))
            repo.add(account)
        yield domain, Account, Deposited


def test_read_gives_protean_messages_of_a_stream_a_category_and_all(bank):
    domain, Account, Deposited = bank
    store = domain.event_store.store
    category = Account._meta.stream_category
    messages = store.read(f"{category}-a-1")
    assert [m.data["amount"] for m in messages] == [5, 7]
    first = messages[0]
    assert first.metadata.headers.type == first.metadata["type"] == Deposited._meta.type_string
    assert first.metadata.kind == "EVENT"
    assert first.stream_name == f"{category}-a-1"
    event = first.to_domain_object()
    assert type(event) is Deposited and event.amount == 5
    assert [m.data["amount"] for m in store.read(category)] == [5, 7, 1]
    everything = store.read("$all")
    assert [m.data["amount"] for m in everything] == [5, 7, 1]
    # positions are inclusive: the first message to return
    assert [m.data["amount"] for m in store.read(f"{category}-a-1", position=1)] == [7]
    second = everything[1].global_position
    assert [m.data["amount"] for m in store.read("$all", position=second)] == [7, 1]
    assert [m.data["amount"] for m in store.read("$all", no_of_messages=2)] == [5, 7]
    assert store.read_last_message(f"{category}-a-1").data["amount"] == 7
    assert store.read_last_message(f"{category}-nobody") is None
    with pytest.raises(NotSupportedError):
        store.read("$all", sql="SELECT 1")


def test_load_aggregate_rebuilds_from_events(bank):
    domain, Account, _ = bank
    store = domain.event_store.store
    assert store.load_aggregate(Account, "a-1").balance == 12
    assert store.load_aggregate(Account, "a-1", at_version=0).balance == 5
    assert store.load_aggregate(Account, "nobody") is None
    with pytest.raises(ObjectNotFoundError):
        store.load_aggregate(Account, "a-1", at_version=9)


def test_append_stores_a_raised_event_and_returns_its_position(bank):
    domain, Account, Deposited = bank
    store = domain.event_store.store
    category = Account._meta.stream_category
    account = Account(account_id="c-3")
    account.raise_(Deposited(account_id="c-3", amount=4))
    first = account._events[-1]
    assert store.append(first) == 0
    account.raise_(Deposited(account_id="c-3", amount=6))
    assert store.append(account._events[-1]) == 1
    assert store.append(first) == 0  # idempotent by message id: stored once
    messages = store.read(f"{category}-c-3")
    assert [m.data["amount"] for m in messages] == [4, 6]
    assert messages[0].metadata.correlation_id == messages[0].metadata.id  # a root message
    assert store.load_aggregate(Account, "c-3").balance == 10
    assert domain.repository_for(Account).get("c-3").balance == 10


def test_append_refuses_a_taken_position_and_a_message_without_stream(bank):
    from archipel.errors import ExpectedVersionError, IncorrectUsageError

    domain, Account, Deposited = bank
    store = domain.event_store.store
    stale = Account(account_id="a-1")  # a-1 has two events already
    stale.raise_(Deposited(account_id="a-1", amount=1))
    with pytest.raises(ExpectedVersionError):
        store.append(stale._events[-1])
    with pytest.raises(IncorrectUsageError, match="raise it from its aggregate"):
        store.append(Deposited(account_id="a-1", amount=1))
    with pytest.raises(IncorrectUsageError, match="takes an event or a command"):
        store.append(stale)
    assert len(store.read(f"{Account._meta.stream_category}-a-1")) == 2


def test_append_writes_the_outbox_row_the_server_relays(make_domain):
    domain = make_domain(enable_outbox=True)

    @domain.aggregate(is_event_sourced=True)
    class Meter(BaseAggregate):
        reading = Integer(default=0)

        @apply
        def read_(self, event: Read) -> None:
            self.reading = event.value

    @domain.event(part_of=Meter)
    class Read(BaseEvent):
        value = Integer(required=True)

    start(domain)
    with domain.domain_context():
        outbox = domain.providers.database("default").outbox()
        meter = Meter()
        meter.raise_(Read(value=3))
        assert domain.event_store.store.append(meter._events[-1]) == 0
        assert outbox.pending_count() == 1
        domain.event_store.store.append(meter._events[-1])  # stored once, relayed once
        assert outbox.pending_count() == 1
