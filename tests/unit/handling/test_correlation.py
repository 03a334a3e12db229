"""Correlation and causation ids across commands, events and handlers; the event store
records the whole causation tree of a request."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseEventHandler,
    current_domain,
    handle,
)
from archipel.fields import Identifier, String
from tests.unit._support import start


@pytest.fixture
def signup(make_domain):
    """RegisterUser -> UserRegistered -> (handler) SendWelcome -> WelcomeSent
    and UserRegistered -> (handler, direct add) Badge created -> BadgeAwarded."""
    domain = make_domain("Signup")
    handled: dict[str, object] = {}

    @domain.aggregate
    class User(BaseAggregate):
        email = String()

    @domain.aggregate
    class Badge(BaseAggregate):
        user_id = Identifier()

    @domain.command(part_of=User)
    class RegisterUser(BaseCommand):
        email = String()

    @domain.command(part_of=User)
    class SendWelcome(BaseCommand):
        user_id = Identifier()

    @domain.event(part_of=User)
    class UserRegistered(BaseEvent):
        user_id = Identifier()

    @domain.event(part_of=User)
    class WelcomeSent(BaseEvent):
        user_id = Identifier()

    @domain.event(part_of=Badge)
    class BadgeAwarded(BaseEvent):
        user_id = Identifier()

    @domain.command_handler(part_of=User)
    class Users:
        @handle(RegisterUser)
        def register(self, command):
            user = User(email=command.email)
            user.raise_(UserRegistered(user_id=user.id))
            current_domain.repository_for(User).add(user)
            return {"user_id": user.id}

        @handle(SendWelcome)
        def welcome(self, command):
            handled["welcome_command"] = command
            repo = current_domain.repository_for(User)
            user = repo.get(command.user_id)
            user.raise_(WelcomeSent(user_id=user.id))
            repo.add(user)

    @domain.event_handler(part_of=User)
    class Onboarding(BaseEventHandler):
        @handle(UserRegistered)
        def on_registered(self, event):
            handled["registered"] = event
            current_domain.process(SendWelcome(user_id=event.user_id))
            badge = Badge(user_id=event.user_id)
            badge.raise_(BadgeAwarded(user_id=event.user_id))
            current_domain.repository_for(Badge).add(badge)

        @handle(WelcomeSent)
        def on_welcome(self, event):
            handled["welcome_event"] = event

    @domain.event_handler(part_of=Badge)
    class Badges(BaseEventHandler):
        @handle(BadgeAwarded)
        def on_badge(self, event):
            handled["badge_event"] = event

    start(domain)
    return domain, RegisterUser, handled


def test_process_returns_the_handlers_result(signup):
    domain, register, _ = signup
    with domain.domain_context():
        result = domain.process(register(email="a@x.org"))
    assert set(result) == {"user_id"}
    with domain.domain_context():
        assert domain.repository_for(domain.registry.by_name["User"]).exists(result["user_id"])


def test_events_of_a_command_are_caused_by_it_and_share_its_correlation(signup):
    domain, register, handled = signup
    command = register(email="a@x.org")
    with domain.domain_context():
        domain.process(command)
    cmeta = command._metadata
    assert cmeta.correlation_id == cmeta.id
    event = handled["registered"]._metadata
    assert event.causation_id == cmeta.id
    assert event.correlation_id == cmeta.id


def test_command_sent_by_an_event_handler_is_caused_by_the_event(signup):
    domain, register, handled = signup
    command = register(email="a@x.org")
    with domain.domain_context():
        domain.process(command)
    registered = handled["registered"]._metadata
    welcome = handled["welcome_command"]._metadata
    assert welcome.causation_id == registered.id
    assert welcome.correlation_id == command._metadata.id
    welcome_event = handled["welcome_event"]._metadata
    assert welcome_event.causation_id == welcome.id
    assert welcome_event.correlation_id == command._metadata.id


def test_events_raised_inside_an_event_handler_are_caused_by_that_event(signup):
    domain, register, handled = signup
    command = register(email="a@x.org")
    with domain.domain_context():
        domain.process(command)
    badge = handled["badge_event"]._metadata
    assert badge.causation_id == handled["registered"]._metadata.id
    assert badge.correlation_id == command._metadata.id


def test_a_raised_event_carries_its_ids_at_once_inside_the_handler(make_domain):
    """As in Protean: a handler reads the correlation and causation ids of the event it
    has just raised, before its unit of work commits; the stored event keeps them."""
    domain = make_domain()
    seen: dict[str, tuple[object, object]] = {}

    @domain.aggregate
    class Thing(BaseAggregate):
        name = String()

    @domain.event(part_of=Thing)
    class Named(BaseEvent):
        name = String()

    @domain.command(part_of=Thing)
    class Name(BaseCommand):
        name = String()

    @domain.command_handler(part_of=Thing)
    class Things:
        @handle(Name)
        def name(self, command):
            thing = Thing(name=command.name)
            thing.raise_(Named(name=command.name))
            meta = thing._events[-1]._metadata
            seen["raised"] = (meta.correlation_id, meta.causation_id)
            current_domain.repository_for(Thing).add(thing)

    start(domain)
    command = Name(name="x")
    command._metadata.correlation_id = "request-7"
    with domain.domain_context():
        domain.process(command)
        stored = domain.event_store.read_correlated("request-7")
    assert seen["raised"] == ("request-7", command._metadata.id)
    event = [m for m in stored if m["metadata"]["type"].endswith("Named.v1")]
    assert [(m["metadata"]["correlation_id"], m["metadata"]["causation_id"]) for m in event] == [
        ("request-7", command._metadata.id)
    ]
    outside = Thing(name="y")
    outside.raise_(Named(name="y"))  # no message being handled: stamped when committed
    assert outside._events[-1]._metadata.correlation_id is None


def test_event_store_returns_the_whole_causation_tree_in_order(signup):
    domain, register, handled = signup
    command = register(email="a@x.org")
    with domain.domain_context():
        domain.process(command)
        tree = domain.event_store.read_correlated(command._metadata.id)
    types = [m["metadata"]["type"] for m in tree]
    assert types == [
        "Signup.RegisterUser.v1",
        "Signup.UserRegistered.v1",
        "Signup.SendWelcome.v1",
        "Signup.WelcomeSent.v1",
        "Signup.BadgeAwarded.v1",
    ]
    ids = {m["metadata"]["id"]: m for m in tree}
    for message in tree[1:]:
        assert message["metadata"]["causation_id"] in ids  # every parent is in the tree
    positions = [m["metadata"]["global_position"] for m in tree]
    assert positions == sorted(positions)
    assert {m["metadata"]["correlation_id"] for m in tree} == {command._metadata.id}


def test_separate_requests_have_separate_trees(signup):
    domain, register, _ = signup
    first, second = register(email="a@x.org"), register(email="b@x.org")
    with domain.domain_context():
        domain.process(first)
        domain.process(second)
        assert len(domain.event_store.read_correlated(first._metadata.id)) == 5
        assert len(domain.event_store.read_correlated(second._metadata.id)) == 5


def test_a_correlation_id_given_by_the_caller_is_kept(signup):
    domain, register, handled = signup
    command = register(email="a@x.org")
    command._metadata.correlation_id = "request-123"
    with domain.domain_context():
        domain.process(command)
        tree = domain.event_store.read_correlated("request-123")
    assert len(tree) == 5
    assert handled["badge_event"]._metadata.correlation_id == "request-123"


def test_commands_are_recorded_even_when_the_handler_changes_nothing(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Thing(BaseAggregate):
        name = String()

    @domain.command(part_of=Thing)
    class Ping(BaseCommand):
        name = String()

    @domain.command_handler(part_of=Thing)
    class Things:
        @handle(Ping)
        def ping(self, command):
            return "pong"

    start(domain)
    command = Ping(name="x")
    with domain.domain_context():
        assert domain.process(command) == "pong"
        stored = domain.event_store.read_correlated(command._metadata.id)
    assert [m["metadata"]["id"] for m in stored] == [command._metadata.id]
    assert stored[0]["metadata"]["kind"] == "COMMAND"
    assert stored[0]["data"] == {"name": "x"}


def test_a_command_processed_inside_a_command_handler_inherits_the_correlation(make_domain):
    domain = make_domain()
    seen = {}

    @domain.aggregate
    class Thing(BaseAggregate):
        name = String()

    @domain.command(part_of=Thing)
    class Outer(BaseCommand):
        name = String()

    @domain.command(part_of=Thing)
    class Inner(BaseCommand):
        name = String()

    @domain.command_handler(part_of=Thing)
    class Things:
        @handle(Outer)
        def outer(self, command):
            inner = Inner(name=command.name)
            result = current_domain.process(inner)
            seen["inner"] = inner
            return f"outer({result})"

        @handle(Inner)
        def inner(self, command):
            return "inner"

    start(domain)
    outer = Outer(name="x")
    with domain.domain_context():
        assert domain.process(outer) == "outer(inner)"
    inner = seen["inner"]._metadata
    assert inner.causation_id == outer._metadata.id
    assert inner.correlation_id == outer._metadata.id
    assert inner.id != outer._metadata.id


def test_a_new_envelope_reads_its_defaults_and_events_take_the_lane_of_their_command(make_domain):
    """A fresh envelope holds every field the framework fills in (as class defaults read);
    ``priority`` is left unset, so an event raised while a command is handled takes the
    command's priority and one raised outside any command stays at 0."""
    from archipel.core.message import Metadata

    domain = make_domain(command_processing="sync", event_processing="sync")

    @domain.aggregate
    class Ticket(BaseAggregate):
        title = String()

    @domain.event(part_of=Ticket)
    class Opened(BaseEvent):
        ticket_id = Identifier()

    @domain.command(part_of=Ticket)
    class Open(BaseCommand):
        title = String()

    @domain.command_handler(part_of=Ticket)
    class Tickets:
        @handle(Open)
        def open(self, command):
            ticket = Ticket(title=command.title)
            ticket.raise_(Opened(ticket_id=ticket.id))
            current_domain.repository_for(Ticket).add(ticket)
            return ticket.id

    start(domain)
    fresh = Opened(ticket_id="t-1")._metadata
    # the type is known from construction, as in Protean (headers.type)
    assert fresh.to_dict() == {**Metadata().to_dict(), "kind": "EVENT", "type": Opened.__type__}
    assert Open(title="x")._metadata.to_dict() == {
        **Metadata().to_dict(), "kind": "COMMAND", "type": Open.__type__
    }
    assert fresh.headers.type == f"{domain.name}.Opened.v1"
    with domain.domain_context():
        urgent = domain.process(Open(title="urgent"), priority=3)
        plain = domain.process(Open(title="plain"))
        loose = Ticket(title="loose")
        loose.raise_(Opened(ticket_id=loose.id))
        domain.repository_for(Ticket).add(loose)
        category = Ticket._meta.stream_category
        lanes = {
            ident: [m["metadata"]["priority"] for m in domain.event_store.read_stream(f"{category}-{ident}")]
            for ident in (urgent, plain, loose.id)
        }
    assert lanes == {urgent: [3], plain: [0], loose.id: [0]}
