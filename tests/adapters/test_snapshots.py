"""Snapshots and history of event-sourced aggregates, on every event store.

A snapshot is a cache: loading from snapshot + later events must give the
state a full replay gives, an out-of-date snapshot must be ignored, and the
history API (``get(id, at_version=...)``, ``get(id, as_of=...)``) must give
the state of the past.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseCommandHandler,
    BaseEvent,
    Domain,
    apply,
    handle,
)
from archipel.core.message import Metadata, utcnow
from archipel.errors import IncorrectUsageError, ObjectNotFound
from archipel.fields import HasMany, Identifier, Integer, List, String
from archipel.handling.decoding import decode_stored
from archipel.handling.event_sourced import replay
from archipel.handling.snapshots import Snapshot, snapshot_stream
from tests.adapters.conftest import start


class Bank:
    """The classes of one test domain."""

    def __init__(self, domain: Domain, **classes: Any) -> None:
        self.domain = domain
        self.__dict__.update(classes)


def define(domain: Domain) -> Bank:
    from archipel import BaseEntity

    @domain.aggregate(is_event_sourced=True)
    class Account(BaseAggregate):
        owner = String(max_length=50)
        balance = Integer(default=0)
        tags = List(content_type=String)
        entries = HasMany("Entry")

        @classmethod
        def open(cls, owner: str) -> Account:
            account = cls(owner=owner)
            account.raise_(Opened(account_id=account.id, owner=owner))
            return account

        def deposit(self, amount: int) -> None:
            self.raise_(Deposited(amount=amount))

        def rename(self, owner: str) -> None:
            self.raise_(Renamed(owner=owner))

        @apply
        def opened(self, event: Opened) -> None:
            self.owner = event.owner

        @apply
        def deposited(self, event: Deposited) -> None:
            self.balance = (self.balance or 0) + event.amount
            self.tags = [*(self.tags or []), f"d{event.amount}"]
            self.add_entries(Entry(amount=event.amount))

        @apply
        def renamed(self, event: Renamed) -> None:
            self.owner = event.owner

    @domain.entity(part_of=Account)
    class Entry(BaseEntity):
        amount = Integer()

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()
        owner = String()

    @domain.event(part_of=Account)
    class Deposited(BaseEvent):
        amount = Integer()

    @domain.event(part_of=Account)
    class Renamed(BaseEvent):
        owner = String()

    @domain.aggregate
    class Plain(BaseAggregate):
        name = String()

    @domain.command(part_of=Account)
    class Deposit(BaseCommand):
        account_id = Identifier()
        amount = Integer()

    @domain.command_handler(part_of=Account)
    class Handler(BaseCommandHandler):
        @handle(Deposit)
        def deposit(self, command: Deposit) -> None:
            from archipel import current_domain

            repo = current_domain.repository_for(Account)
            account = repo.get(command.account_id)
            account.deposit(command.amount)
            repo.add(account)
            if command.amount < 0:
                raise ValueError("no negative deposits")

    start(domain)
    return Bank(domain, Account=Account, Plain=Plain, Deposit=Deposit)


@pytest.fixture
def bank(make_domain: Any) -> Any:
    domain = make_domain(snapshot_threshold=3)
    model = define(domain)
    with domain.domain_context():
        yield model


def state(account: Any) -> tuple[Any, ...]:
    return (
        account.owner,
        account.balance,
        list(account.tags or []),
        [e.amount for e in account.entries],
        account._version,
    )


def full_replay(bank: Bank, identity: str) -> Any:
    stream = f"{bank.Account._meta.stream_category}-{identity}"
    stored = bank.domain.event_store.read_stream(stream)
    return replay(bank.Account, identity, [decode_stored(bank.domain, s) for s in stored])


def snapshots(bank: Bank, identity: str) -> list[dict[str, Any]]:
    stream = snapshot_stream(bank.Account._meta.stream_category, identity)
    return [s["data"] for s in bank.domain.event_store.read_stream(stream)]


def opened_with(bank: Bank, deposits: list[int]) -> str:
    repo = bank.domain.repository_for(bank.Account)
    account = bank.Account.open("ann")
    repo.add(account)
    for amount in deposits:
        account = repo.get(account.id)
        account.deposit(amount)
        repo.add(account)
    return str(account.id)


# -- snapshots --------------------------------------------------------------------


def test_a_load_replaying_threshold_events_writes_a_snapshot_and_later_loads_start_there(bank: Bank) -> None:
    identity = opened_with(bank, [1, 2])  # 3 events, each save preceded by a load of < 3 events
    assert snapshots(bank, identity) == []
    repo = bank.domain.repository_for(bank.Account)
    loaded = repo.get(identity)  # replays 3 events: the threshold
    [snap] = snapshots(bank, identity)
    assert snap["version"] == 2 and snap["state"]["balance"] == 3
    assert state(loaded) == state(full_replay(bank, identity))
    # a load now starts at the snapshot: below the threshold, no new snapshot
    assert state(repo.get(identity)) == state(loaded)
    assert len(snapshots(bank, identity)) == 1


def test_the_stream_category_of_snapshots_is_the_documented_one(bank: Bank) -> None:
    identity = opened_with(bank, [1, 2, 3])
    bank.domain.repository_for(bank.Account).get(identity)
    category = bank.Account._meta.stream_category
    assert bank.domain.event_store.read_stream(f"{category}:snapshot-{identity}")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.one_of(st.integers(min_value=-50, max_value=50), st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)),
        min_size=0,
        max_size=25,
    ),
    loads_between=st.integers(min_value=1, max_value=4),
)
def test_snapshot_plus_later_events_is_the_full_replay(bank: Bank, steps: list[Any], loads_between: int) -> None:
    repo = bank.domain.repository_for(bank.Account)
    account = bank.Account.open("first")
    repo.add(account)
    identity = account.id
    for i, step in enumerate(steps):
        account = repo.get(identity)
        if isinstance(step, int):
            account.deposit(step)
        else:
            account.rename(step)
        repo.add(account)
        if i % loads_between == 0:
            assert state(repo.get(identity)) == state(full_replay(bank, identity))
    assert state(repo.get(identity)) == state(full_replay(bank, identity))
    assert repo.get(identity)._version == len(steps)


def test_a_snapshot_of_another_schema_is_ignored_and_rebuilt(bank: Bank) -> None:
    identity = opened_with(bank, [5, 5])
    stream = snapshot_stream(bank.Account._meta.stream_category, identity)
    # a snapshot left by an older version of the class: other fields, wrong state
    meta = Metadata(id=str(uuid.uuid4()), type="x.snapshot", kind="SNAPSHOT", stream=stream, time=utcnow())
    stale = {"version": 2, "schema": "0123456789abcdef", "state": {"id": identity, "owner": "old", "balance": 999}}
    bank.domain.event_store.append([Snapshot(meta, stale)])
    loaded = bank.domain.repository_for(bank.Account).get(identity)
    assert (loaded.owner, loaded.balance) == ("ann", 10)
    latest = snapshots(bank, identity)[-1]
    assert latest["schema"] != stale["schema"] and latest["state"]["balance"] == 10


def discarded_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "archipel.snapshot" and r.getMessage() == "snapshot_discarded"]


def test_a_discarded_snapshot_is_a_warning_naming_the_aggregate_and_why(
    bank: Bank, caplog: pytest.LogCaptureFixture
) -> None:
    identity = opened_with(bank, [5, 5])
    stream = snapshot_stream(bank.Account._meta.stream_category, identity)
    meta = Metadata(id=str(uuid.uuid4()), type="x.snapshot", kind="SNAPSHOT", stream=stream, time=utcnow())
    stale = {"version": 2, "schema": "0123456789abcdef", "state": {"id": identity, "owner": "old", "balance": 999}}
    bank.domain.event_store.append([Snapshot(meta, stale)])
    with caplog.at_level(logging.WARNING, logger="archipel.snapshot"):
        bank.domain.repository_for(bank.Account).get(identity)
    [record] = discarded_records(caplog)
    assert (record.levelno, record.aggregate, record.aggregate_id) == (logging.WARNING, "Account", identity)  # type: ignore[attr-defined]
    assert "another schema of Account" in record.reason  # type: ignore[attr-defined]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="archipel.snapshot"):  # the fresh snapshot is used
        assert bank.domain.repository_for(bank.Account).get(identity).balance == 10
    assert discarded_records(caplog) == []


def test_snapshots_are_written_only_after_the_unit_of_work_commits(bank: Bank) -> None:
    identity = opened_with(bank, [1, 1])
    domain = bank.domain
    with pytest.raises(ValueError):
        domain.process(bank.Deposit(account_id=identity, amount=-1))  # loads 3 events, then fails
    assert snapshots(bank, identity) == []
    domain.process(bank.Deposit(account_id=identity, amount=4))
    [snap] = snapshots(bank, identity)
    assert snap["version"] == 2  # the state as loaded, not as changed by the handler
    assert domain.repository_for(bank.Account).get(identity).balance == 6


def test_threshold_zero_turns_automatic_snapshots_off(make_domain: Any) -> None:
    domain = make_domain(snapshot_threshold=0)
    model = define(domain)
    with domain.domain_context():
        identity = opened_with(model, [1, 2, 3, 4])
        model.domain.repository_for(model.Account).get(identity)
        assert snapshots(model, identity) == []
        assert domain.create_snapshot(model.Account, identity) is True
        assert snapshots(model, identity)[-1]["version"] == 4


def test_create_snapshot_snapshots_and_create_all_snapshots(bank: Bank) -> None:
    domain = bank.domain
    first = opened_with(bank, [])
    second = opened_with(bank, [7])
    assert domain.create_snapshot(bank.Account, first) is True
    assert domain.create_snapshot(bank.Account, first) is False  # that version has one
    assert domain.create_snapshots(bank.Account) == 1  # only ``second`` lacked one
    account = domain.repository_for(bank.Account).get(second)
    account.deposit(1)
    domain.repository_for(bank.Account).add(account)
    assert domain.create_all_snapshots() == {"Account": 1}
    assert snapshots(bank, second)[-1]["version"] == 2
    with pytest.raises(ObjectNotFound):
        domain.create_snapshot(bank.Account, "nobody")
    with pytest.raises(IncorrectUsageError, match="not event-sourced"):
        domain.create_snapshot(bank.Plain, first)


# -- history ------------------------------------------------------------------------


def test_at_version_gives_each_past_state_and_refuses_versions_beyond_the_stream(bank: Bank) -> None:
    identity = opened_with(bank, [1, 2, 3, 4, 5])
    repo = bank.domain.repository_for(bank.Account)
    repo.get(identity)  # leaves a snapshot at version 5
    for version in range(6):
        past = repo.get(identity, at_version=version)
        assert past._version == version
        assert past.balance == sum(range(1, version + 1))
    with pytest.raises(ObjectNotFound, match="no version 6: its latest version is 5"):
        repo.get(identity, at_version=6)
    with pytest.raises(ObjectNotFound):
        repo.get("nobody", at_version=0)
    assert repo.get_or_none("nobody", at_version=0) is None
    with pytest.raises(IncorrectUsageError):
        repo.get(identity, at_version=-1)


def test_as_of_gives_the_state_written_by_then(bank: Bank) -> None:
    identity = opened_with(bank, [1])
    time.sleep(0.01)
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    repo = bank.domain.repository_for(bank.Account)
    account = repo.get(identity)
    account.deposit(10)
    repo.add(account)
    assert repo.get(identity, as_of=between).balance == 1
    assert repo.get(identity, as_of=between.replace(tzinfo=None)).balance == 1  # naive is UTC
    assert repo.get(identity, as_of=dt.datetime.now(dt.UTC)).balance == 11
    with pytest.raises(ObjectNotFound):
        repo.get(identity, as_of=between - dt.timedelta(days=1))
    with pytest.raises(IncorrectUsageError, match="not both"):
        repo.get(identity, at_version=0, as_of=between)


def test_past_states_are_read_only(bank: Bank) -> None:
    identity = opened_with(bank, [1])
    repo = bank.domain.repository_for(bank.Account)
    past = repo.get(identity, at_version=0)
    with pytest.raises(IncorrectUsageError, match="read-only"):
        past.deposit(1)
    with pytest.raises(IncorrectUsageError, match="read-only"):
        repo.add(past)
    assert repo.get(identity).balance == 1


def test_history_of_an_aggregate_that_is_not_event_sourced_is_refused(bank: Bank) -> None:
    repo = bank.domain.repository_for(bank.Plain)
    plain = bank.Plain(name="x")
    repo.add(plain)
    with pytest.raises(IncorrectUsageError, match="not event-sourced"):
        repo.get(plain.id, at_version=0)
    with pytest.raises(IncorrectUsageError, match="not event-sourced"):
        repo.get(plain.id, as_of=dt.datetime.now(dt.UTC))
