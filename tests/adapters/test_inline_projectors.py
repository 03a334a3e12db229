"""``inline=True`` projectors on every storage provider: the read model commits with the command.

On PostgreSQL the command's aggregate row, its events, its outbox rows and the
inline projection are one statement; a failure anywhere in it — the
projector's own exception, or the database refusing the projection's row —
must leave nothing of the command behind.
"""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, BaseProjection, current_domain, handle
from archipel.errors import ExpectedVersionError
from archipel.fields import Identifier, String
from tests.adapters.conftest import start


def build(make_domain, refuse: set[str]):
    """A domain whose inline projector raises for names in ``refuse``; events go to the outbox."""
    domain = make_domain(event_processing="async")

    @domain.aggregate
    class Counter(BaseAggregate):
        name = String(required=True)

    @domain.event(part_of=Counter)
    class CounterCreated(BaseEvent):
        counter_id = Identifier(required=True)
        name = String()

    @domain.command(part_of=Counter)
    class CreateCounter(BaseCommand):
        name = String(required=True)
        card = String()  # the card's identity (defaults to the counter's)

    @domain.command_handler(part_of=Counter)
    class Counters:
        @handle(CreateCounter)
        def create(self, command):
            counter = Counter(name=command.name)
            counter.raise_(CounterCreated(counter_id=command.card or counter.id, name=counter.name))
            current_domain.repository_for(Counter).add(counter)
            return counter.id

    @domain.projection
    class CounterCard(BaseProjection):
        card_id = Identifier(identifier=True)
        name = String()

    @domain.projector(projector_for=CounterCard, aggregates=[Counter], inline=True)
    class Cards:
        @handle(CounterCreated)
        def on_created(self, event):
            if event.name in refuse:
                raise RuntimeError(f"read model refused {event.name}")
            current_domain.repository_for(CounterCard).add(
                CounterCard(card_id=event.counter_id, name=event.name)
            )

    start(domain)
    return domain, Counter, CreateCounter, CounterCard


def stored(domain, Counter, CounterCard) -> tuple[int, int, int, int]:
    """Counters, cards, stored messages and pending outbox rows."""
    return (
        domain.repository_for(Counter).find().total,
        domain.query_for(CounterCard).find().total,
        len(domain.event_store.read_all()),
        domain.providers.database().outbox().pending_count(),
    )


def test_the_projection_commits_with_the_command(make_domain):
    domain, Counter, CreateCounter, CounterCard = build(make_domain, refuse=set())
    with domain.domain_context():
        counter_id = domain.process(CreateCounter(name="visits"))
        assert domain.query_for(CounterCard).get(counter_id).name == "visits"
        # the counter, the command and its event, and the event's outbox row
        assert stored(domain, Counter, CounterCard) == (1, 1, 2, 1)


def test_a_failing_inline_projector_rolls_the_command_back(make_domain):
    domain, Counter, CreateCounter, CounterCard = build(make_domain, refuse={"bad"})
    with domain.domain_context():
        domain.process(CreateCounter(name="good"))
        with pytest.raises(RuntimeError, match="refused bad"):
            domain.process(CreateCounter(name="bad"))
        assert stored(domain, Counter, CounterCard) == (1, 1, 2, 1)


def test_a_projection_row_the_database_refuses_rolls_the_command_back(make_domain):
    # the second command's projection takes an identity already stored: the database
    # refuses that row at commit, and with it the counter, the events and the outbox row
    domain, Counter, CreateCounter, CounterCard = build(make_domain, refuse=set())
    with domain.domain_context():
        domain.process(CreateCounter(name="first", card="card-1"))
        with pytest.raises(ExpectedVersionError, match="card-1"):
            domain.process(CreateCounter(name="second", card="card-1"))
        assert stored(domain, Counter, CounterCard) == (1, 1, 2, 1)
        assert domain.query_for(CounterCard).get("card-1").name == "first"
