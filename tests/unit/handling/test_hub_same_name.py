"""A domain built again under a name already in the hub (the earlier one never shut down, as
Protean-style test fixtures leave it): each event reaches one domain of that name, never an
earlier instance's handlers, while domains of other names still receive it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseEventHandler,
    Domain,
    current_domain,
    handle,
)
from archipel.fields import Identifier, String
from tests.unit._support import start
from tests.unit.conftest import MEMORY


def build(name: str, log: list[tuple[int, str]], tag: int) -> Domain:
    """Domain ``name`` whose handler of its own ``Opened`` logs ``(tag, account id)``."""
    domain = Domain(name=name, config=dict(MEMORY))

    @domain.aggregate
    class Account(BaseAggregate):
        owner = String()

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()

    @domain.command(part_of=Account)
    class Open(BaseCommand):
        account_id = Identifier()

    @domain.command_handler(part_of=Account)
    class Accounts:
        @handle(Open)
        def open(self, command: Any) -> None:
            account = Account(id=command.account_id, owner="x")
            account.raise_(Opened(account_id=account.id))
            current_domain.repository_for(Account).add(account)

    @domain.event_handler(part_of=Account)
    class Log(BaseEventHandler):
        @handle(Opened)
        def on_opened(self, event: Any) -> None:
            log.append((tag, str(event.account_id)))

    domain.Open = Open  # type: ignore[attr-defined]
    return start(domain)


def watcher(log: list[tuple[int, str]]) -> Domain:
    """Another bounded context ("Audit") handling the "Bank" accounts' events."""
    audit = Domain(name="Audit", config=dict(MEMORY))

    class Opened(BaseEvent):
        account_id = Identifier()

    audit.register_external_event(Opened, "Bank.Opened.v1")

    @audit.event_handler(stream_category="bank::account")
    class Watch(BaseEventHandler):
        @handle(Opened)
        def on_opened(self, event: Any) -> None:
            log.append((-1, str(event.account_id)))

    return start(audit)


@pytest.fixture
def built() -> Iterator[list[Domain]]:
    domains: list[Domain] = []
    yield domains
    for domain in domains:
        if domain.initialized:
            domain.shutdown()


def test_a_domain_built_again_does_not_feed_the_earlier_ones_handlers(built: list[Domain]) -> None:
    log: list[tuple[int, str]] = []
    first = build("Bank", log, 1)
    built.append(first)
    with first.domain_context():
        first.process(first.Open(account_id="a-1"))  # type: ignore[attr-defined]
    second = build("Bank", log, 2)  # the first was never shut down
    built.append(second)
    with second.domain_context():
        second.process(second.Open(account_id="a-1"))  # type: ignore[attr-defined]
    assert log == [(1, "a-1"), (2, "a-1")]
    # the earlier one, used again, still handles its own events
    with first.domain_context():
        first.process(first.Open(account_id="a-2"))  # type: ignore[attr-defined]
    assert log[2:] == [(1, "a-2")]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=8), st.booleans())
def test_each_event_reaches_the_active_instance_and_every_other_context_once(
    order: list[int], shut_one: bool
) -> None:
    log: list[tuple[int, str]] = []
    domains = [build("Bank", log, tag) for tag in range(3)]
    audit = watcher(log)
    try:
        if shut_one:
            domains[1].shutdown()  # left the hub: the others as before
        expected: list[tuple[int, str]] = []
        for n, tag in enumerate(order):
            domain = domains[tag]
            if not domain.initialized:
                domain.init(traverse=False)  # joins the hub again: now the last initialised
            with domain.domain_context():
                domain.process(domain.Open(account_id=f"a-{n}"))  # type: ignore[attr-defined]
            expected += [(tag, f"a-{n}"), (-1, f"a-{n}")]
        assert sorted(log) == sorted(expected)  # each exactly once (hub order varies)
    finally:
        for domain in (*domains, audit):
            if domain.initialized:
                domain.shutdown()
