"""``domain.process(command, deadline=... | timeout=...)`` (Protean's): a command past its
deadline is refused before its handler runs; the deadline travels in the command's headers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseCommand, BaseCommandHandler, handle
from archipel.errors import CommandExpiredError, IncorrectUsageError, ObjectNotFoundError
from archipel.fields import Identifier, String
from archipel.handling.expiry import deadline_of, resolve_deadline
from archipel.utils.globals import current_domain

UTC = dt.UTC


@pytest.fixture
def shop(make_domain):
    domain = make_domain("Deadlines")
    seen: list[tuple[str, dt.datetime | None]] = []

    @domain.aggregate
    class Ticket(BaseAggregate):
        ticket_id = Identifier(identifier=True)
        note = String()

    @domain.command(part_of=Ticket)
    class Open(BaseCommand):
        ticket_id = Identifier()
        then_note = String()

    @domain.command(part_of=Ticket)
    class Note(BaseCommand):
        ticket_id = Identifier()

    @domain.command_handler(part_of=Ticket)
    class Tickets(BaseCommandHandler):
        @handle(Open)
        def open(self, command):
            seen.append(("Open", deadline_of(command)))
            current_domain.repository_for(Ticket).add(Ticket(ticket_id=command.ticket_id))
            if command.then_note:
                current_domain.process(Note(ticket_id=command.ticket_id))
            return command.ticket_id

        @handle(Note)
        def note(self, command):
            seen.append(("Note", deadline_of(command)))

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        yield domain, Ticket, Open, Note, seen


def test_a_command_within_its_timeout_is_handled_and_carries_its_deadline(shop):
    domain, Ticket, Open, _, seen = shop
    before = dt.datetime.now(UTC)
    assert domain.process(Open(ticket_id="t1"), timeout=dt.timedelta(minutes=5)) == "t1"
    after = dt.datetime.now(UTC)

    [(name, deadline)] = seen
    assert before + dt.timedelta(minutes=5) <= deadline <= after + dt.timedelta(minutes=5)
    assert domain.repository_for(Ticket).get("t1").ticket_id == "t1"


def test_a_command_past_its_deadline_is_refused_before_its_handler_runs(shop):
    domain, Ticket, Open, _, seen = shop
    past = dt.datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(CommandExpiredError) as refused:
        domain.process(Open(ticket_id="t2"), deadline=past)
    assert refused.value.deadline == past
    assert refused.value.command_type == "Deadlines.Open.v1"
    assert seen == []
    with pytest.raises(ObjectNotFoundError):
        domain.repository_for(Ticket).get("t2")


def test_an_expired_command_with_an_idempotency_key_records_nothing(shop):
    domain, _, Open, _, seen = shop
    with pytest.raises(CommandExpiredError):
        domain.process(Open(ticket_id="t3"), idempotency_key="k-3", timeout=dt.timedelta(seconds=-1))
    assert domain.process(Open(ticket_id="t3"), idempotency_key="k-3") == "t3"
    assert [name for name, _ in seen] == ["Open"]


def test_commands_sent_by_a_handler_inherit_the_deadline(shop):
    domain, _, Open, _, seen = shop
    deadline = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    domain.process(Open(ticket_id="t4", then_note="yes"), deadline=deadline)
    assert seen == [("Open", deadline), ("Note", deadline)]


def test_without_deadline_nothing_is_recorded(shop):
    domain, _, Open, _, seen = shop
    domain.process(Open(ticket_id="t5", then_note="yes"))
    assert seen == [("Open", None), ("Note", None)]


def test_wrong_deadline_arguments_are_usage_errors(shop):
    domain, _, Open, _, seen = shop
    with pytest.raises(IncorrectUsageError, match="not both"):
        domain.process(Open(ticket_id="t6"), deadline=dt.datetime.now(UTC), timeout=dt.timedelta(1))
    with pytest.raises(IncorrectUsageError, match="timedelta"):
        domain.process(Open(ticket_id="t6"), timeout=30)
    with pytest.raises(IncorrectUsageError, match="datetime"):
        domain.process(Open(ticket_id="t6"), deadline="2030-01-01")
    assert seen == []


@settings(max_examples=50)
@given(st.datetimes(timezones=st.none() | st.timezones()))
def test_a_deadline_is_read_as_utc(moment):
    resolved = resolve_deadline(moment, None)
    assert resolved.utcoffset() == dt.timedelta(0)
    if moment.tzinfo is None:
        assert resolved.replace(tzinfo=None) == moment
    else:
        # the same instant: wall time minus its offset (``==`` across zones is never true for a
        # fold=1 time in a repeated hour, a Python rule, so compare the UTC wall times)
        instant = moment.replace(tzinfo=None) - moment.utcoffset()
        assert resolved.replace(tzinfo=None) == instant


@given(st.timedeltas(min_value=dt.timedelta(days=-1000), max_value=dt.timedelta(days=1000)))
def test_a_timeout_counts_from_now(timeout):
    now = dt.datetime(2030, 6, 1, tzinfo=UTC)
    assert resolve_deadline(None, timeout, now=now) == now + timeout


def test_command_default_timeout_gives_commands_a_deadline_unless_the_call_or_handler_does(make_domain):
    # Protean's domain-wide validity window (seconds)
    import datetime as dt

    from archipel import BaseAggregate, BaseCommand, BaseCommandHandler, handle
    from archipel.fields import Identifier

    domain = make_domain(command_default_timeout=30)
    seen = {}

    @domain.aggregate
    class Job(BaseAggregate):
        job_id = Identifier(identifier=True)

    @domain.command(part_of=Job)
    class Run(BaseCommand):
        job_id = Identifier(identifier=True)

    @domain.command(part_of=Job)
    class Stop(BaseCommand):
        job_id = Identifier(identifier=True)

    @domain.command_handler(part_of=Job)
    class Runner(BaseCommandHandler):
        @handle(Run)
        def run(self, command):
            seen["run"] = command._metadata.headers.deadline

    @domain.command_handler(part_of=Job, timeout=5)
    class Stopper(BaseCommandHandler):
        @handle(Stop)
        def stop(self, command):
            seen["stop"] = command._metadata.headers.deadline

    domain.init(traverse=False)
    with domain.domain_context():
        before = dt.datetime.now(dt.UTC)
        domain.process(Run(job_id="1"))
        deadline = dt.datetime.fromisoformat(seen["run"])
        assert dt.timedelta(seconds=29) < deadline - before <= dt.timedelta(seconds=31)
        domain.process(Run(job_id="2"), timeout=dt.timedelta(seconds=300))
        assert dt.datetime.fromisoformat(seen["run"]) - before > dt.timedelta(seconds=200)
        domain.process(Stop(job_id="3"))  # the handler's own timeout wins: no default deadline
        assert seen["stop"] is None
