"""``inline=True`` projectors: the read model commits in the command's own transaction."""

from __future__ import annotations

import uuid

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseProjection,
    Domain,
    current_domain,
    handle,
)
from archipel.fields import Identifier, Integer, String


def build(fail_projection: bool = False):
    domain = Domain(name=f"Inline{uuid.uuid4().hex[:6]}", config={})
    calls = {"inline": 0, "after": 0}

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

    @domain.command_handler(part_of=Counter)
    class Counters:
        @handle(CreateCounter)
        def create(self, command):
            counter = Counter(name=command.name)
            counter.raise_(CounterCreated(counter_id=counter.id, name=counter.name))
            current_domain.repository_for(Counter).add(counter)
            return counter.id

    @domain.projection
    class CounterCard(BaseProjection):
        counter_id = Identifier(identifier=True)
        name = String()
        seen_correlation = String()

    @domain.projection
    class CounterTally(BaseProjection):
        key = String(identifier=True)
        count = Integer(default=0)

    @domain.projector(projector_for=CounterCard, aggregates=[Counter], inline=True)
    class Cards:
        @handle(CounterCreated)
        def on_created(self, event):
            calls["inline"] += 1
            if fail_projection:
                raise RuntimeError("read model refused")
            current_domain.repository_for(CounterCard).add(
                CounterCard(
                    counter_id=event.counter_id,
                    name=event.name,
                    seen_correlation=event._metadata.correlation_id,
                )
            )

    @domain.projector(projector_for=CounterTally, aggregates=[Counter])
    class Tally:
        @handle(CounterCreated)
        def on_created(self, event):
            calls["after"] += 1
            repo = current_domain.repository_for(CounterTally)
            tally = repo.get_or_none("all") or CounterTally(key="all")
            tally.count += 1
            repo.add(tally)

    domain.init(traverse=False)
    return domain, Counter, CreateCounter, CounterCard, CounterTally, calls


def test_inline_projection_commits_with_the_command_and_runs_once():
    domain, Counter, CreateCounter, CounterCard, CounterTally, calls = build()
    with domain.domain_context():
        counter_id = domain.process(CreateCounter(name="visits"))
        card = domain.query_for(CounterCard).get(counter_id)
        assert card.name == "visits"
        stored = domain.event_store.read_stream(f"{Counter._meta.stream_category}-{counter_id}")
        # the projector saw the event with its correlation id already set
        assert card.seen_correlation == stored[0]["metadata"]["correlation_id"]
        assert domain.query_for(CounterTally).get("all").count == 1
    assert calls == {"inline": 1, "after": 1}


def test_a_failing_inline_projector_fails_the_command_and_stores_nothing():
    domain, Counter, CreateCounter, CounterCard, CounterTally, calls = build(fail_projection=True)
    with domain.domain_context():
        with pytest.raises(RuntimeError, match="read model refused"):
            domain.process(CreateCounter(name="visits"))
        assert domain.repository_for(Counter).find().total == 0
        assert domain.query_for(CounterCard).find().total == 0
        assert domain.event_store.read_all() == []
    assert calls["after"] == 0  # nothing committed, nothing dispatched
