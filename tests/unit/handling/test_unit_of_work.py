"""The unit of work: one per handler call; state, events and outbox rows commit together
or not at all; optimistic concurrency; reads see the unit of work's own changes."""

from __future__ import annotations

import threading

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseEventHandler,
    UnitOfWork,
    current_domain,
    handle,
    invariant,
)
from archipel.errors import ExpectedVersionError, InvalidOperationError, ValidationError
from archipel.fields import Identifier, Integer, String
from archipel.utils.globals import uow_var
from tests.unit._support import start


@pytest.fixture
def bank(make_domain):
    domain = make_domain("Bank", enable_outbox=True)
    seen: list[tuple[str, object]] = []

    @domain.aggregate
    class Account(BaseAggregate):
        owner = String(required=True)
        balance = Integer(default=0)

        @invariant.post
        def no_overdraft(self):
            if self.balance < 0:
                raise ValidationError({"balance": ["cannot go below zero"]})

        def deposit(self, amount):
            self.balance += amount
            self.raise_(Deposited(account_id=self.id, amount=amount))

    @domain.event(part_of=Account)
    class Deposited(BaseEvent):
        account_id = Identifier(required=True)
        amount = Integer()

    @domain.command(part_of=Account)
    class OpenTwo(BaseCommand):
        first = String()
        second = String()
        fail = String()

    @domain.command(part_of=Account)
    class Deposit(BaseCommand):
        account_id = Identifier(required=True)
        amount = Integer()

    @domain.command_handler(part_of=Account)
    class Accounts:
        @handle(OpenTwo)
        def open_two(self, command):
            repo = current_domain.repository_for(Account)
            seen.append(("uow", uow_var.get()))
            ids = []
            for owner in (command.first, command.second):
                account = Account(owner=owner)
                account.deposit(10)
                repo.add(account)
                ids.append(account.id)
            # buffered: nothing is in the store until the handler returns
            committed = current_domain.providers.database().begin().get(
                current_domain.schema_for(Account), ids[0]
            )
            seen.append(("visible-before-commit", committed))
            if command.fail:
                raise RuntimeError(command.fail)
            return ids

        @handle(Deposit)
        def deposit(self, command):
            repo = current_domain.repository_for(Account)
            account = repo.get(command.account_id)
            account.deposit(command.amount)
            repo.add(account)
            seen.append(("uow", uow_var.get()))

    @domain.event_handler(part_of=Account)
    class Audit(BaseEventHandler):
        @handle(Deposited)
        def record(self, event):
            seen.append(("event", event.amount))
            seen.append(("uow", uow_var.get()))

    start(domain)
    return domain, Account, OpenTwo, Deposit, seen


def outbox_rows(domain):
    return list(domain.providers.database("default").outbox().rows.values())


def test_handler_changes_are_buffered_and_committed_together(bank):
    domain, account_cls, open_two, _, seen = bank
    with domain.domain_context():
        ids = domain.process(open_two(first="ann", second="bob"))
        repo = domain.repository_for(account_cls)
        assert [repo.get(i).owner for i in ids] == ["ann", "bob"]
    assert ("visible-before-commit", None) in seen
    assert [s for s in seen if s[0] == "event"] == [("event", 10), ("event", 10)]


def test_each_handler_call_gets_its_own_unit_of_work(bank):
    domain, _, open_two, deposit, seen = bank
    with domain.domain_context():
        (first, _) = domain.process(open_two(first="ann", second="bob"))
        domain.process(deposit(account_id=first, amount=5))
    uows = [value for kind, value in seen if kind == "uow"]
    assert all(isinstance(u, UnitOfWork) for u in uows)
    # open_two + 2 event handler calls + deposit + 1 event handler call
    assert len(uows) == 5
    assert len({id(u) for u in uows}) == 5
    assert uow_var.get() is None


def test_failing_handler_stores_nothing_and_dispatches_nothing(bank):
    domain, account_cls, open_two, _, seen = bank
    with domain.domain_context():
        with pytest.raises(RuntimeError, match="disk full"):
            domain.process(open_two(first="ann", second="bob", fail="disk full"))
        assert domain.repository_for(account_cls).count() == 0
        assert domain.event_store.count() == 0
    assert outbox_rows(domain) == []
    assert not [s for s in seen if s[0] == "event"]


def test_state_events_command_and_outbox_rows_are_written_together(bank):
    domain, _, open_two, _, _ = bank
    with domain.domain_context():
        command = open_two(first="ann", second="bob")
        ids = domain.process(command)
        stored = domain.event_store.read_correlated(command._metadata.id)
    assert [m["metadata"]["type"] for m in stored] == [
        "Bank.OpenTwo.v1",
        "Bank.Deposited.v1",
        "Bank.Deposited.v1",
    ]
    rows = outbox_rows(domain)
    assert [row["type"] for row in rows] == ["Bank.Deposited.v1", "Bank.Deposited.v1"]
    assert [row["stream"] for row in rows] == [f"bank::account-{i}" for i in ids]
    assert [row["message_id"] for row in rows] == [m["metadata"]["id"] for m in stored[1:]]
    assert rows[0]["message"]["data"] == {"account_id": ids[0], "amount": 10}


def test_a_conflict_at_commit_writes_nothing_at_all(bank):
    domain, account_cls, _, _, _ = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        existing = account_cls(owner="old")
        repo.add(existing)
        stale = repo.get(existing.id)
        fresh = repo.get(existing.id)
        fresh.deposit(1)
        repo.add(fresh)  # stale is now one version behind
        events_before = domain.event_store.count()
        outbox_before = len(outbox_rows(domain))

        def both(uow):
            newcomer = account_cls(owner="new")
            newcomer.deposit(99)
            repo.add(newcomer)
            stale.deposit(2)
            repo.add(stale)
            return newcomer.id

        with pytest.raises(ExpectedVersionError):
            domain.run_in_unit_of_work(both)
        assert repo.count() == 1
        assert repo.get(existing.id).balance == 1
        assert domain.event_store.count() == events_before
    assert len(outbox_rows(domain)) == outbox_before


def test_two_loads_two_saves_the_second_save_fails(bank):
    domain, account_cls, _, _, _ = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        account = account_cls(owner="ann")
        repo.add(account)
        first, second = repo.get(account.id), repo.get(account.id)
        first.balance = 10
        repo.add(first)
        second.balance = 20
        with pytest.raises(ExpectedVersionError) as info:
            repo.add(second)
        assert (info.value.expected, info.value.actual) == (0, 1)
        assert "reload" in str(info.value)
        assert repo.get(account.id).balance == 10


def test_adding_a_new_aggregate_with_a_taken_identity_fails(bank):
    domain, account_cls, _, _, _ = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        repo.add(account_cls(id="a1", owner="ann"))
        with pytest.raises(ExpectedVersionError, match="already exists"):
            repo.add(account_cls(id="a1", owner="impostor"))
        assert repo.get("a1").owner == "ann"


def test_a_failed_save_can_be_retried_after_reloading(bank):
    domain, account_cls, _, _, _ = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        account = account_cls(owner="ann")
        repo.add(account)
        first, second = repo.get(account.id), repo.get(account.id)
        first.deposit(1)
        repo.add(first)
        second.deposit(2)
        with pytest.raises(ExpectedVersionError):
            repo.add(second)
        retry = repo.get(account.id)
        retry.deposit(2)
        repo.add(retry)
        assert repo.get(account.id).balance == 3


def test_reads_inside_a_unit_of_work_see_its_pending_adds(bank):
    domain, account_cls, _, _, _ = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        repo.add(account_cls(id="kept", owner="kim", balance=1))

        def work(uow):
            newcomer = account_cls(id="new", owner="nia", balance=7)
            repo.add(newcomer)
            kept = repo.get("kept")
            kept.balance = 50
            repo.add(kept)
            assert repo.get("new") is newcomer
            assert repo.exists("new")
            assert repo.find_by(owner="nia") is newcomer
            assert {a.id for a in repo.find(balance__gte=7)} == {"kept", "new"}
            assert repo.query.filter(balance__lt=10).all().total == 1
            assert repo.count() == 2
            assert repo.get("kept") is kept

        domain.run_in_unit_of_work(work)


def test_identity_map_returns_the_same_object_within_a_unit_of_work(bank):
    domain, account_cls, _, _, _ = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        repo.add(account_cls(id="a", owner="ann"))
        pairs = []
        domain.run_in_unit_of_work(lambda uow: pairs.append((repo.get("a"), repo.get("a"))))
        first, second = pairs[0]
        assert first is second
        assert repo.get("a") is not repo.get("a")  # outside: fresh copies


def test_removed_object_is_gone_inside_the_unit_of_work_and_after(bank):
    domain, account_cls, _, _, _ = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        repo.add(account_cls(id="a", owner="ann"))
        repo.add(account_cls(id="b", owner="bob"))

        def work(uow):
            repo.remove(repo.get("a"))
            assert repo.get_or_none("a") is None
            assert not repo.exists("a")
            assert [x.id for x in repo.query.all()] == ["b"]

        domain.run_in_unit_of_work(work)
        assert repo.get_or_none("a") is None
        assert repo.count() == 1


def test_invariant_failure_in_a_handler_stores_nothing(bank):
    domain, account_cls, _, deposit, seen = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        account = account_cls(owner="ann")
        repo.add(account)
        events_before = domain.event_store.count()
        with pytest.raises(ValidationError):
            domain.process(deposit(account_id=account.id, amount=-5))
        assert repo.get(account.id).balance == 0
        assert domain.event_store.count() == events_before
    assert not [s for s in seen if s[0] == "event"]


# --- unique fields --------------------------------------------------------------------------


@pytest.fixture
def members(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Member(BaseAggregate):
        email = String(unique=True)
        nickname = String()

    start(domain)
    with domain.domain_context():
        yield domain, Member, domain.repository_for(Member)


def test_unique_field_refuses_a_second_object_with_the_same_value(members):
    _, member_cls, repo = members
    repo.add(member_cls(email="ann@x.org"))
    with pytest.raises(ValidationError) as info:
        repo.add(member_cls(email="ann@x.org", nickname="copycat"))
    assert list(info.value.messages) == ["email"]
    assert "ann@x.org" in info.value.messages["email"][0]
    assert [m.nickname for m in repo.all()] == [None]


def test_unique_field_allows_many_missing_values_and_keeping_ones_own_value(members):
    _, member_cls, repo = members
    repo.add(member_cls(nickname="a"))
    repo.add(member_cls(nickname="b"))
    member = member_cls(email="kim@x.org")
    repo.add(member)
    loaded = repo.get(member.id)
    loaded.nickname = "kim"
    repo.add(loaded)
    assert repo.count() == 3


def test_unique_value_is_free_again_after_a_change_or_removal(members):
    _, member_cls, repo = members
    first = member_cls(email="a@x.org")
    repo.add(first)
    changed = repo.get(first.id)
    changed.email = "b@x.org"
    repo.add(changed)
    repo.add(member_cls(email="a@x.org"))
    repo.remove(repo.get(first.id))
    repo.add(member_cls(email="b@x.org"))
    assert sorted(m.email for m in repo.all()) == ["a@x.org", "b@x.org"]


def test_unique_values_are_checked_within_one_unit_of_work(members):
    domain, member_cls, repo = members

    def two_with_the_same_email(uow):
        repo.add(member_cls(email="twin@x.org"))
        repo.add(member_cls(email="twin@x.org"))

    with pytest.raises(ValidationError):
        domain.run_in_unit_of_work(two_with_the_same_email)
    assert repo.count() == 0


def test_two_objects_may_swap_unique_values_in_one_unit_of_work(members):
    domain, member_cls, repo = members
    first, second = member_cls(email="a@x.org"), member_cls(email="b@x.org")
    repo.add(first)
    repo.add(second)

    def swap(uow):
        one, two = repo.get(first.id), repo.get(second.id)
        one.email, two.email = "b@x.org", "a@x.org"
        repo.add(one)
        repo.add(two)

    domain.run_in_unit_of_work(swap)
    assert repo.get(first.id).email == "b@x.org"
    with pytest.raises(ValidationError):
        repo.add(member_cls(email="a@x.org"))


def test_concurrent_writers_in_threads_one_wins_one_gets_a_version_error(members):
    domain, member_cls, repo = members
    member = member_cls(email="t@x.org")
    repo.add(member)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def writer(nickname):
        with domain.domain_context():
            loaded = domain.repository_for(member_cls).get(member.id)
            barrier.wait()  # both hold version 0 before either saves
            loaded.nickname = nickname
            try:
                domain.repository_for(member_cls).add(loaded)
                outcomes.append("saved")
            except ExpectedVersionError:
                outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    stored = repo.get(member.id)
    assert stored._version == 1
    assert stored.nickname in {"left", "right"}


def test_no_outbox_rows_unless_the_outbox_is_enabled(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Note(BaseAggregate):
        text = String()

    @domain.event(part_of=Note)
    class Noted(BaseEvent):
        text = String()

    start(domain)
    with domain.domain_context():
        note = Note(text="x")
        note.raise_(Noted(text="x"))
        domain.repository_for(Note).add(note)
        assert domain.event_store.count() == 1
    assert outbox_rows(domain) == []


def test_protean_s_explicit_start_and_commit(bank):
    domain, account_cls, _, _, seen = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        uow = UnitOfWork()
        uow.start()
        assert uow_var.get() is uow and uow.in_progress
        account = account_cls(owner="eve")
        account.deposit(5)
        repo.add(account)
        uow.commit()
        assert uow_var.get() is None and not uow.in_progress
        assert repo.get(account.id).balance == 5
        assert ("event", 5) in seen  # committed events are handled, as with `with UnitOfWork():`


def test_protean_s_explicit_rollback_and_double_start(bank):
    domain, account_cls, *_ = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        uow = UnitOfWork()
        uow.start()
        with pytest.raises(InvalidOperationError, match="already in progress"):
            uow.start()
        account = account_cls(owner="mallory")
        repo.add(account)
        uow.rollback()
        assert uow_var.get() is None
        assert repo.get_or_none(account.id) is None


def test_an_explicit_commit_that_fails_rolls_back_and_leaves_the_scope(bank):
    domain, account_cls, *_ = bank
    with domain.domain_context():
        repo = domain.repository_for(account_cls)
        account = account_cls(owner="zoe")
        repo.add(account)
        first, second = repo.get(account.id), repo.get(account.id)
        first.deposit(1)
        repo.add(first)
        uow = UnitOfWork()
        uow.start()
        second.deposit(2)
        repo.add(second)
        with pytest.raises(ExpectedVersionError):
            uow.commit()
        assert uow_var.get() is None
        assert repo.get(account.id).balance == 1
