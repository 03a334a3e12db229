"""Synchronous dispatch: breadth-first delivery to event handlers and projectors;
cross-domain delivery; fact events; subscribers fed raw dicts through the broker."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseEventHandler,
    BaseProjection,
    BaseProjector,
    BaseSubscriber,
    Q,
    current_domain,
    handle,
)
from archipel.errors import TransactionError
from archipel.fields import Identifier, Integer, String
from tests.unit._support import start

# --- breadth-first ----------------------------------------------------------------------------


def test_events_raised_by_a_handler_wait_for_the_current_events_other_handlers(make_domain):
    domain = make_domain()
    log: list[str] = []

    @domain.aggregate
    class Job(BaseAggregate):
        name = String()

    @domain.event(part_of=Job)
    class Started(BaseEvent):
        job_id = Identifier()

    @domain.event(part_of=Job)
    class FollowUp(BaseEvent):
        job_id = Identifier()

    @domain.event_handler(part_of=Job)
    class First(BaseEventHandler):
        @handle(Started)
        def on_started(self, event):
            log.append("first:Started")
            job = Job(name="child")
            job.raise_(FollowUp(job_id=job.id))
            current_domain.repository_for(Job).add(job)
            log.append("first:done")

        @handle(FollowUp)
        def on_follow_up(self, event):
            log.append("first:FollowUp")

    @domain.event_handler(part_of=Job)
    class Second(BaseEventHandler):
        @handle(Started)
        def on_started(self, event):
            log.append("second:Started")

    start(domain)
    with domain.domain_context():
        job = Job(name="root")
        job.raise_(Started(job_id=job.id))
        domain.repository_for(Job).add(job)
    assert log == ["first:Started", "first:done", "second:Started", "first:FollowUp"]


def test_events_of_one_commit_are_handled_in_the_order_raised(make_domain):
    domain = make_domain()
    log: list[int] = []

    @domain.aggregate
    class Counter(BaseAggregate):
        value = Integer(default=0)

    @domain.event(part_of=Counter)
    class Ticked(BaseEvent):
        value = Integer()

    @domain.event_handler(part_of=Counter)
    class Log(BaseEventHandler):
        @handle(Ticked)
        def on_tick(self, event):
            log.append(event.value)

    start(domain)
    with domain.domain_context():
        counter = Counter()
        for value in range(5):
            counter.raise_(Ticked(value=value))
        domain.repository_for(Counter).add(counter)
    assert log == [0, 1, 2, 3, 4]


def test_a_failing_event_handler_does_not_undo_the_committed_command(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Job(BaseAggregate):
        name = String()

    @domain.event(part_of=Job)
    class Started(BaseEvent):
        job_id = Identifier()

    @domain.event_handler(part_of=Job)
    class Broken(BaseEventHandler):
        @handle(Started)
        def on_started(self, event):
            current_domain.repository_for(Job).add(Job(name="from handler"))
            raise RuntimeError("handler bug")

    start(domain)
    with domain.domain_context():
        job = Job(name="root")
        job.raise_(Started(job_id=job.id))
        with pytest.raises(TransactionError) as caught:
            domain.repository_for(Job).add(job)
        assert isinstance(caught.value.__cause__, RuntimeError)
        assert caught.value.extra_info["original_exception"] == "RuntimeError"
        assert caught.value.extra_info["original_message"] == "handler bug"
        repo = domain.repository_for(Job)
        assert [j.name for j in repo.all()] == ["root"]


@pytest.mark.parametrize("failing", [[], ["first"], ["first", "third"], ["first", "second", "third"]])
def test_a_failing_sync_handler_does_not_stop_the_others(make_domain, failing):
    """As in Protean 0.18: every (event, handler) pair runs; the failures are raised together
    at the end, wrapped in a TransactionError (one failure as its cause, several as a group)."""
    domain = make_domain()
    ran: list[str] = []

    @domain.aggregate
    class Job(BaseAggregate):
        name = String()

    @domain.event(part_of=Job)
    class Started(BaseEvent):
        job_id = Identifier()

    def make_handler(label: str) -> type:
        class Handler(BaseEventHandler):
            @handle(Started)
            def on_started(self, event):
                ran.append(label)
                if label in failing:
                    raise ValueError(f"{label} failed")

        Handler.__name__ = Handler.__qualname__ = f"Handler_{label}"
        return Handler

    for label in ("first", "second", "third"):
        domain.event_handler(make_handler(label), part_of=Job)
    start(domain)
    with domain.domain_context():
        job = Job(name="root")
        job.raise_(Started(job_id=job.id))
        if not failing:
            domain.repository_for(Job).add(job)
        else:
            with pytest.raises(TransactionError) as caught:
                domain.repository_for(Job).add(job)
            cause = caught.value.__cause__
            if len(failing) == 1:
                assert isinstance(cause, ValueError) and str(cause) == f"{failing[0]} failed"
            else:
                assert isinstance(cause, ExceptionGroup)
                assert sorted(str(e) for e in cause.exceptions) == sorted(f"{f} failed" for f in failing)
        assert sorted(ran) == ["first", "second", "third"]
        assert [j.name for j in domain.repository_for(Job).all()] == ["root"]


def test_a_failing_sync_projector_leaves_the_processed_command_committed(make_domain):
    """As in Protean: the command's unit of work commits first; a sync handler runs in its
    own, so its failure reaches the caller and undoes only the handler's writes."""
    domain = make_domain(command_processing="sync", event_processing="sync")

    @domain.aggregate
    class Account(BaseAggregate):
        owner = String()

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()

    @domain.command(part_of=Account)
    class Open(BaseCommand):
        owner = String()

    @domain.command_handler(part_of=Account)
    class Accounts:
        @handle(Open)
        def open(self, command):
            account = Account(owner=command.owner)
            account.raise_(Opened(account_id=account.id))
            current_domain.repository_for(Account).add(account)
            return account.id

    @domain.projection
    class Summary(BaseProjection):
        account_id = Identifier(identifier=True)

    @domain.projector(projector_for=Summary, aggregates=[Account])
    class Summaries(BaseProjector):
        @handle(Opened)
        def on_opened(self, event):
            current_domain.repository_for(Summary).add(Summary(account_id=event.account_id))
            raise RuntimeError("projector bug")

    start(domain)
    with domain.domain_context():
        with pytest.raises(TransactionError) as caught:
            domain.process(Open(owner="ann"))
        assert isinstance(caught.value.__cause__, RuntimeError)
        assert str(caught.value.__cause__) == "projector bug"
        (account,) = domain.repository_for(Account).all()
        assert account.owner == "ann"
        stream = f"{Account._meta.stream_category}-{account.id}"
        assert [m["metadata"]["type"] for m in domain.event_store.read_stream(stream)] == [
            Opened._meta.type_string
        ]
        assert domain.repository_for(Summary).get_or_none(account.id) is None
        with pytest.raises(TransactionError, match="projector bug"):
            domain.process(Open(owner="bob"))  # each command commits on its own
        assert sorted(a.owner for a in domain.repository_for(Account).all()) == ["ann", "bob"]


def test_handler_on_any_event_of_a_category_gets_every_event(make_domain):
    domain = make_domain()
    seen: list[str] = []

    @domain.aggregate
    class Job(BaseAggregate):
        name = String()

    @domain.event(part_of=Job)
    class Started(BaseEvent):
        job_id = Identifier()

    @domain.event(part_of=Job)
    class Stopped(BaseEvent):
        job_id = Identifier()

    @domain.event_handler(part_of=Job)
    class Everything(BaseEventHandler):
        @handle("$any")
        def on_any(self, event):
            seen.append(type(event).__name__)

    start(domain)
    with domain.domain_context():
        job = Job()
        job.raise_(Started(job_id=job.id))
        job.raise_(Stopped(job_id=job.id))
        domain.repository_for(Job).add(job)
    assert seen == ["Started", "Stopped"]


def test_handler_of_stream_category_all_gets_the_events_of_every_aggregate(make_domain):
    # Protean's ``stream_category="$all"``: sync delivery, and the server's subscription
    # reads every category the domain's events are written to
    from archipel.engine.subscriptions import all_subscriptions

    domain = make_domain()
    seen: list[str] = []

    @domain.aggregate
    class Job(BaseAggregate):
        name = String()

    @domain.aggregate
    class Crew(BaseAggregate):
        name = String()

    @domain.event(part_of=Job)
    class Started(BaseEvent):
        job_id = Identifier()

    @domain.event(part_of=Crew)
    class Hired(BaseEvent):
        crew_id = Identifier()

    @domain.event_handler(stream_category="$all")
    class Metrics(BaseEventHandler):
        @handle("$any")
        def count(self, event):
            seen.append(type(event).__name__)

        @handle(Hired)
        def hired(self, event):
            seen.append("hired!")

    start(domain)
    with domain.domain_context():
        job = Job()
        job.raise_(Started(job_id=job.id))
        domain.repository_for(Job).add(job)
        crew = Crew()
        crew.raise_(Hired(crew_id=crew.id))
        domain.repository_for(Crew).add(crew)
    assert seen == ["Started", "hired!", "Hired"]
    (sub,) = [s for s in all_subscriptions(domain) if s.handler_cls is Metrics]
    assert sorted(sub.categories) == sorted([Job._meta.stream_category, Crew._meta.stream_category])


# --- projectors ----------------------------------------------------------------------------


def test_projector_keeps_a_projection_up_to_date(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        customer = String()
        total = Integer(default=0)

    @domain.event(part_of=Order)
    class OrderPlaced(BaseEvent):
        order_id = Identifier()
        customer = String()
        total = Integer()

    @domain.event(part_of=Order)
    class OrderCancelled(BaseEvent):
        order_id = Identifier()

    @domain.projection
    class CustomerTotals(BaseProjection):
        customer = Identifier(identifier=True)
        orders = Integer(default=0)
        spent = Integer(default=0)

    @domain.projector(projector_for=CustomerTotals, aggregates=[Order])
    class Totals(BaseProjector):
        @handle(OrderPlaced)
        def placed(self, event):
            repo = current_domain.repository_for(CustomerTotals)
            totals = repo.get_or_none(event.customer) or CustomerTotals(customer=event.customer)
            totals.orders += 1
            totals.spent += event.total
            repo.add(totals)

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Order)
        for customer, total in [("ann", 10), ("bob", 5), ("ann", 7)]:
            order = Order(customer=customer, total=total)
            order.raise_(OrderPlaced(order_id=order.id, customer=customer, total=total))
            repo.add(order)
        view = domain.query_for(CustomerTotals)
        ann = view.get("ann")
        assert (ann.orders, ann.spent) == (2, 17)
        assert view.find(Q(spent__lt=10)).first.customer == "bob"


# --- cross-domain delivery ------------------------------------------------------------------


@pytest.fixture
def billing_and_shipping(make_domain):
    billing = make_domain("Billing")
    shipping = make_domain("Shipping")
    received: list[tuple[str, str, str | None]] = []

    @billing.aggregate
    class Payment(BaseAggregate):
        order_id = Identifier()

    @billing.event(part_of=Payment)
    class PaymentReceived(BaseEvent):
        order_id = Identifier()
        amount = Integer()

    @billing.command(part_of=Payment)
    class Pay(BaseCommand):
        order_id = Identifier()
        amount = Integer()

    @billing.command_handler(part_of=Payment)
    class Payments:
        @handle(Pay)
        def pay(self, command):
            payment = Payment(order_id=command.order_id)
            payment.raise_(PaymentReceived(order_id=command.order_id, amount=command.amount))
            current_domain.repository_for(Payment).add(payment)

    # shipping's own class for billing's event: nothing imported from billing
    class PaymentArrived(BaseEvent):
        order_id = Identifier()
        amount = Integer()

    shipping.register_external_event(PaymentArrived, "Billing.PaymentReceived.v1")
    assert PaymentArrived.__type__ == "Billing.PaymentReceived.v1"  # Protean sets it too

    @shipping.event_handler(stream_category="billing::payment")
    class ShipOnPayment(BaseEventHandler):
        @handle(PaymentArrived)
        def on_payment(self, event):
            received.append((type(event).__name__, current_domain.name, event.order_id))

    return billing, shipping, Pay, PaymentArrived, received


def test_events_reach_handlers_of_other_initialised_domains(billing_and_shipping):
    billing, shipping, pay, arrived_cls, received = billing_and_shipping
    start(billing)
    start(shipping)
    command = pay(order_id="o1", amount=30)
    with billing.domain_context():
        billing.process(command)
    assert received == [("PaymentArrived", "Shipping", "o1")]


def test_delivered_event_keeps_its_metadata_in_the_consumers_class(billing_and_shipping):
    billing, shipping, pay, arrived_cls, _ = billing_and_shipping
    captured = []

    @shipping.event_handler(stream_category="billing::payment")
    class Capture(BaseEventHandler):
        @handle(arrived_cls)
        def on_payment(self, event):
            captured.append(event)

    start(billing)
    start(shipping)
    command = pay(order_id="o2", amount=5)
    with billing.domain_context():
        billing.process(command)
    (event,) = captured
    assert isinstance(event, arrived_cls)
    assert event._metadata.type == "Billing.PaymentReceived.v1"
    assert event._metadata.correlation_id == command._metadata.id
    assert event.amount == 5


def test_uninitialised_or_shut_down_domains_receive_nothing(billing_and_shipping):
    billing, shipping, pay, _, received = billing_and_shipping
    start(billing)
    with billing.domain_context():
        billing.process(pay(order_id="o1", amount=1))
    assert received == []
    start(shipping)
    shipping.shutdown()
    with billing.domain_context():
        billing.process(pay(order_id="o2", amount=1))
    assert received == []


def test_register_external_event_checks_the_type_string(make_domain):
    from archipel.errors import ConfigurationError

    domain = make_domain()

    class Foreign(BaseEvent):
        name = String()

    with pytest.raises(ConfigurationError, match="<Domain>.<Event>.v<N>"):
        domain.register_external_event(Foreign, "PaymentReceived")


# --- fact events ----------------------------------------------------------------------------


def test_fact_events_carry_the_full_state_after_every_save(make_domain):
    domain = make_domain("Crm")
    facts: list[object] = []

    @domain.aggregate(fact_events=True)
    class Contact(BaseAggregate):
        name = String(required=True)
        email = String()
        score = Integer(default=0)

    start(domain)
    fact_cls = domain.router.messages["Crm.ContactFactEvent.v1"]

    @domain.event_handler(part_of=Contact)
    class Facts(BaseEventHandler):
        @handle(fact_cls)
        def on_fact(self, event):
            facts.append(event)

    domain.init(traverse=False)
    with domain.domain_context():
        repo = domain.repository_for(Contact)
        contact = Contact(name="Ann", email="ann@x.org")
        repo.add(contact)
        loaded = repo.get(contact.id)
        loaded.score = 5
        repo.add(loaded)
    assert [f.to_dict() for f in facts] == [
        {"id": contact.id, "name": "Ann", "email": "ann@x.org", "score": 0},
        {"id": contact.id, "name": "Ann", "email": "ann@x.org", "score": 5},
    ]
    assert facts[0]._metadata.type == "Crm.ContactFactEvent.v1"
    assert facts[0]._metadata.stream.startswith("crm::contact")
    assert [f._metadata.position for f in facts] == [0, 1]


# --- subscribers ----------------------------------------------------------------------------


def test_subscriber_gets_raw_dicts_published_to_its_stream(make_domain):
    domain = make_domain()
    payloads: list[dict] = []

    @domain.aggregate
    class Contact(BaseAggregate):
        name = String()

    @domain.subscriber(stream="crm_webhooks")
    class Webhooks(BaseSubscriber):
        def __call__(self, payload):
            payloads.append(payload)
            current_domain.repository_for(Contact).add(Contact(name=payload["full_name"]))

    start(domain)
    payload = {"type": "ContactCreated", "full_name": "Zoe"}
    with domain.domain_context():
        domain.brokers["default"].publish("crm_webhooks", payload)
        domain.brokers["default"].publish("other_stream", {"full_name": "Nobody"})
        names = [c.name for c in domain.repository_for(Contact).all()]
    assert payloads == [payload]
    assert payloads[0] is not payload  # the subscriber gets its own copy
    assert names == ["Zoe"]


def test_subscriber_without_stream_is_refused_at_init(make_domain):
    from archipel.errors import ConfigurationError

    domain = make_domain()

    @domain.subscriber
    class Nowhere(BaseSubscriber):
        def __call__(self, payload):
            pass

    with pytest.raises(ConfigurationError, match="Nowhere has no stream"):
        domain.init(traverse=False)


# --- the context each route runs in -------------------------------------------------------------


def test_every_route_of_an_event_sees_it_as_the_message_being_handled_in_its_own_unit_of_work(make_domain):
    """The routes of one event share the message being handled (set once for all of them), yet
    each runs in a unit of work of its own: a command one of them sends is caused by the event
    (and joins that route's unit of work, Protean's nesting), and a failing route undoes only
    its own writes."""
    from archipel.utils.globals import current_message, uow_var

    domain = make_domain(command_processing="sync", event_processing="sync")
    seen: list[tuple[str, object, object]] = []

    @domain.aggregate
    class Job(BaseAggregate):
        name = String()

    @domain.event(part_of=Job)
    class Started(BaseEvent):
        job_id = Identifier()

    @domain.command(part_of=Job)
    class Note(BaseCommand):
        text = String()

    @domain.command_handler(part_of=Job)
    class Notes:
        @handle(Note)
        def note(self, command):
            seen.append(("note", current_message.get(), uow_var.get()))

    def make_handler(label: str) -> type:
        class Handler(BaseEventHandler):
            @handle(Started)
            def on_started(self, event):
                seen.append((label, current_message.get(), uow_var.get()))
                assert current_message.get() is event
                current_domain.repository_for(Job).add(Job(name=label))
                if label == "second":
                    current_domain.process(Note(text="from second"))
                if label == "third":
                    raise RuntimeError("third failed")
                assert current_message.get() is event  # a command handled meanwhile set it back

        Handler.__name__ = Handler.__qualname__ = f"Handler_{label}"
        return Handler

    for label in ("first", "second", "third"):
        domain.event_handler(make_handler(label), part_of=Job)
    start(domain)
    with domain.domain_context():
        job = Job(name="root")
        started = Started(job_id=job.id)
        job.raise_(started)
        with pytest.raises(TransactionError, match="third failed"):
            domain.repository_for(Job).add(job)
        assert current_message.get() is None and uow_var.get() is None
    routes = [(label, message, uow) for label, message, uow in seen if label != "note"]
    assert [label for label, _, _ in routes] == ["first", "second", "third"]
    assert all(message is started for _, message, _ in routes)
    uows = [uow for _, _, uow in routes]
    assert all(uow is not None for uow in uows) and len({id(uow) for uow in uows}) == 3
    ((_, note, note_uow),) = [entry for entry in seen if entry[0] == "note"]
    assert note._metadata.causation_id == started._metadata.id
    assert note._metadata.correlation_id == started._metadata.correlation_id
    assert note_uow is uows[1]  # processed inside the second route: it joined its unit of work
    with domain.domain_context():
        assert sorted(j.name for j in domain.repository_for(Job).all()) == ["first", "root", "second"]
