"""``domain.correlation_trace(correlation_id)``: a correlation chain, each message before
its effects, as ``CausationNode`` objects linked to the messages they caused."""

from __future__ import annotations

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseCommandHandler,
    BaseEvent,
    BaseEventHandler,
    handle,
)
from archipel.fields import Identifier, String
from archipel.port.event_store import CausationNode
from archipel.utils.globals import current_domain


def test_a_command_its_event_and_the_command_a_handler_sent(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Account(BaseAggregate):
        account_id = Identifier(identifier=True)
        status = String(default="new")

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()

    @domain.event(part_of=Account)
    class Welcomed(BaseEvent):
        account_id = Identifier()

    @domain.command(part_of=Account)
    class Open(BaseCommand):
        account_id = Identifier()

    @domain.command(part_of=Account)
    class Welcome(BaseCommand):
        account_id = Identifier()

    @domain.command_handler(part_of=Account)
    class Accounts(BaseCommandHandler):
        @handle(Open)
        def open(self, command):
            account = Account(account_id=command.account_id)
            account.raise_(Opened(account_id=command.account_id))
            current_domain.repository_for(Account).add(account)

        @handle(Welcome)
        def welcome(self, command):
            repo = current_domain.repository_for(Account)
            account = repo.get(command.account_id)
            account.status = "welcomed"
            account.raise_(Welcomed(account_id=command.account_id))
            repo.add(account)

    @domain.event_handler(part_of=Account)
    class Greeter(BaseEventHandler):
        @handle(Opened)
        def opened(self, event):
            current_domain.process(Welcome(account_id=event.account_id))

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        domain.process(Open(account_id="a1"), correlation_id="req-1")
        domain.process(Open(account_id="a2"), correlation_id="req-2")
        trace = domain.correlation_trace("req-1")
        assert domain.correlation_trace("nope") == []

    assert all(isinstance(node, CausationNode) for node in trace)
    assert [(n.kind, n.message_type.split(".")[1]) for n in trace] == [
        ("COMMAND", "Open"),
        ("EVENT", "Opened"),
        ("COMMAND", "Welcome"),
        ("EVENT", "Welcomed"),
    ]
    open_, opened, welcome, welcomed = trace
    assert open_.children == [opened] and opened.children == [welcome] and welcome.children == [welcomed]
    assert opened.stream.endswith("-a1") and all(n.global_position is not None for n in trace)
