"""``domain.process(command, idempotency_key=..., raise_on_duplicate=...)`` on every provider.

A repeated key returns the first result without handling the command again; the
key is stored with the handler's state (in the ``default`` database), so it
holds for another domain instance on the same database, and a failed handling
records nothing.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from archipel import BaseAggregate, BaseCommand, BaseCommandHandler, handle
from archipel.errors import DuplicateCommandError, IncorrectUsageError
from archipel.fields import Identifier, Integer, String
from tests.adapters.conftest import SQL_PROVIDERS, start


def build(domain, calls: list[str]):
    @domain.aggregate
    class Account(BaseAggregate):
        owner = String(max_length=50, required=True)
        balance = Integer(default=0)

    @domain.command(part_of=Account)
    class Open(BaseCommand):
        owner = String(max_length=50, required=True)
        fail = String(max_length=10)

    @domain.command(part_of=Account)
    class Odd(BaseCommand):
        account_id = Identifier()

    @domain.command_handler(part_of=Account)
    class Handler(BaseCommandHandler):
        @handle(Open)
        def open(self, command: Open) -> str:
            calls.append(command.owner)
            account = Account(id=str(uuid.uuid4()), owner=command.owner)
            domain.repository_for(Account).add(account)
            if command.fail:
                raise RuntimeError("handler failed")
            return account.id

        @handle(Odd)
        def odd(self, command: Odd) -> object:
            domain.repository_for(Account).add(Account(id=str(uuid.uuid4()), owner="odd"))
            return object()

    return Account, Open, Odd


@pytest.fixture
def bank(make_domain):
    calls: list[str] = []
    domain = make_domain()
    account_cls, open_cls, odd_cls = build(domain, calls)
    start(domain)
    return domain, account_cls, open_cls, odd_cls, calls


def accounts(domain, account_cls) -> int:
    with domain.domain_context():
        return len(domain.repository_for(account_cls).query.all().items)


def test_a_repeated_key_returns_the_first_result_without_handling_again(bank):
    domain, account_cls, open_cls, _, calls = bank
    with domain.domain_context():
        first = domain.process(open_cls(owner="ada"), idempotency_key="req-1")
        again = domain.process(open_cls(owner="ada"), idempotency_key="req-1")
        other = domain.process(open_cls(owner="bob"), idempotency_key="req-2")
        unkeyed = [domain.process(open_cls(owner="cy")) for _ in range(2)]
    assert again == first
    assert other != first
    assert calls == ["ada", "bob", "cy", "cy"]
    assert accounts(domain, account_cls) == 2 + len(set(unkeyed))


def test_raise_on_duplicate_carries_the_original_result(bank):
    domain, _, open_cls, _, calls = bank
    with domain.domain_context():
        first = domain.process(open_cls(owner="ada"), idempotency_key="k", raise_on_duplicate=True)
        with pytest.raises(DuplicateCommandError) as caught:
            domain.process(open_cls(owner="ada"), idempotency_key="k", raise_on_duplicate=True)
    assert caught.value.original_result == first
    assert calls == ["ada"]


def test_a_failed_handling_records_no_key_so_a_retry_runs(bank):
    domain, account_cls, open_cls, _, calls = bank
    with domain.domain_context():
        with pytest.raises(RuntimeError):
            domain.process(open_cls(owner="ada", fail="yes"), idempotency_key="k")
        result = domain.process(open_cls(owner="ada"), idempotency_key="k")
        assert domain.process(open_cls(owner="ada"), idempotency_key="k") == result
    assert calls == ["ada", "ada"]
    assert accounts(domain, account_cls) == 1


def test_a_result_json_cannot_hold_is_refused_and_rolled_back(bank):
    domain, account_cls, _, odd_cls, _ = bank
    with domain.domain_context():
        with pytest.raises(IncorrectUsageError, match="JSON"):
            domain.process(odd_cls(account_id="x"), idempotency_key="k")
    assert accounts(domain, account_cls) == 0


@pytest.mark.parametrize("key", ["", 42, "x" * 256])
def test_a_key_must_be_a_short_string(bank, key):
    domain, account_cls, open_cls, _, calls = bank
    with domain.domain_context(), pytest.raises(IncorrectUsageError, match="idempotency_key"):
        domain.process(open_cls(owner="ada"), idempotency_key=key)
    assert calls == []


def test_an_asynchronous_command_keeps_its_id_under_the_key(bank):
    domain, _, open_cls, _, calls = bank
    with domain.domain_context():
        first = domain.process(open_cls(owner="ada"), asynchronous=True, idempotency_key="k")
        again = domain.process(open_cls(owner="ada"), asynchronous=True, idempotency_key="k")
    assert isinstance(first, str) and again == first
    assert domain.providers.database("default").outbox().pending_count() == 1
    assert calls == []


def test_racing_twins_with_one_key_store_one_result(bank):
    domain, account_cls, open_cls, _, _ = bank
    results: list[object] = []
    barrier = threading.Barrier(6)

    def submit() -> None:
        with domain.domain_context():
            barrier.wait()
            results.append(domain.process(open_cls(owner="ada"), idempotency_key="race"))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and len(set(results)) == 1  # type: ignore[arg-type]
    assert accounts(domain, account_cls) == 1


# the memory database lives in one domain instance: the SQL stores only
@pytest.mark.parametrize("provider", SQL_PROVIDERS, indirect=True)
def test_the_key_holds_for_another_domain_instance_on_the_same_database(provider, storage):
    from archipel import Domain

    name = f"K{uuid.uuid4().hex[:8]}"
    first_calls: list[str] = []
    first = Domain(name=name, config=storage)
    _, open_cls, _ = build(first, first_calls)
    start(first)
    with first.domain_context():
        result = first.process(open_cls(owner="ada"), idempotency_key="k")
    first.shutdown()

    second_calls: list[str] = []
    second = Domain(name=name, config=storage)
    _, open_again, _ = build(second, second_calls)
    second.init(traverse=False)
    try:
        with second.domain_context():
            assert second.process(open_again(owner="ada"), idempotency_key="k") == result
    finally:
        second.shutdown()
    assert first_calls == ["ada"] and second_calls == []


def stored_keys(domain) -> int:
    from archipel.core.queryset import Criteria

    tx = domain.providers.database("default").begin()
    try:
        return tx.query(domain._idempotency_schema, Criteria())[1]
    finally:
        tx.rollback()


class Clock:
    """idempotency's ``time.time``, moved by the test: expiry never depends on how fast the
    machine runs the commands."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    from archipel.handling import idempotency

    fake = Clock()
    monkeypatch.setattr(idempotency, "time", fake)
    return fake


def test_a_key_expires_after_the_configured_ttl_and_the_command_runs_again(make_domain, clock):
    calls: list[str] = []
    domain = make_domain(idempotency={"ttl": 0.3})
    account_cls, open_cls, _ = build(domain, calls)
    start(domain)
    with domain.domain_context():
        first = domain.process(open_cls(owner="ada"), idempotency_key="k")
        assert domain.process(open_cls(owner="ada"), idempotency_key="k") == first
        clock.now += 0.5
        second = domain.process(open_cls(owner="ada"), idempotency_key="k")
        assert second != first
        assert domain.process(open_cls(owner="ada"), idempotency_key="k") == second
    assert calls == ["ada", "ada"]
    assert stored_keys(domain) == 1  # the expired row was replaced, not kept beside


def test_expired_keys_are_purged_on_write(make_domain, monkeypatch, clock):
    from archipel.handling import idempotency

    monkeypatch.setattr(idempotency, "PURGE_EVERY", 1)
    calls: list[str] = []
    domain = make_domain(idempotency={"ttl": 0.3})
    _, open_cls, _ = build(domain, calls)
    start(domain)
    with domain.domain_context():
        for n in range(5):
            domain.process(open_cls(owner=f"o{n}"), idempotency_key=f"old-{n}")
        assert stored_keys(domain) == 5
        clock.now += 0.5
        domain.process(open_cls(owner="new"), idempotency_key="new")
    assert stored_keys(domain) == 1


def test_the_default_ttl_is_protean_s_day(make_domain):
    calls: list[str] = []
    domain = make_domain()
    _, open_cls, _ = build(domain, calls)
    start(domain)
    assert domain._idempotency_ttl == 86400


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"ttl": 0}, r"\[idempotency\] ttl must be a positive number of seconds, got 0"),
        ({"ttl": "1d"}, r"\[idempotency\] ttl must be a positive number"),
        ({"ttl": True}, r"\[idempotency\] ttl must be a positive number"),
        ({"time_to_live": 5}, r"\[idempotency\] unknown setting\(s\) time_to_live; allowed: error_ttl, redis_url, ttl"),
    ],
)
def test_a_wrong_idempotency_setting_fails_at_init(make_domain, table, message):
    from archipel.errors import ConfigurationError

    domain = make_domain(idempotency=table)
    with pytest.raises(ConfigurationError, match=message):
        domain.init(traverse=False)
