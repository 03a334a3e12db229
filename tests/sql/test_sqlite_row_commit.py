"""SQLite's commit of one row and its messages without a transaction object (``sqlite_commit``).

A command's unit of work of one aggregate commits with exactly ``BEGIN IMMEDIATE``,
the row, the messages, ``COMMIT``; a row alone is one statement. What it must keep
from the transaction it bypasses: the same stored rows (a domain with the direct
path off stores the same values, property-tested), the positions set on the
messages after the commit, and all-or-nothing with the transaction's errors: an
identity taken, a stale version, a unique value taken, a stream position taken.
"""

from __future__ import annotations

import decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseCommand, BaseEvent, BaseProjection, Domain, handle
from archipel.errors import ExpectedVersionError, TransactionError, ValidationError
from archipel.fields import Decimal, Identifier, String

SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def build(path: Path, direct: bool = True) -> Domain:
    domain = Domain(
        name="Rows",
        config={
            "databases": {"default": {"provider": "sqlite", "database_uri": f"sqlite:///{path}"}},
            "event_store": {"provider": "sqlite"},
            "command_processing": "sync",
            "event_processing": "sync",
        },
    )

    @domain.aggregate
    class Account(BaseAggregate):
        owner = String(max_length=50)
        balance = Decimal()

    @domain.event(part_of=Account)
    class Changed(BaseEvent):
        account_id = Identifier()
        owner = String(max_length=50)
        balance = Decimal()

    @domain.command(part_of=Account)
    class Open(BaseCommand):
        account_id = Identifier()
        owner = String(max_length=50)
        balance = Decimal()

    @domain.command_handler(part_of=Account)
    class Accounts:
        @handle(Open)
        def open(self, command: Open) -> str:
            account = Account(id=command.account_id, owner=command.owner, balance=command.balance)
            account.raise_(Changed(account_id=account.id, owner=account.owner, balance=account.balance))
            domain.repository_for(Account).add(account)
            return str(account.id)

    @domain.projection
    class Card(BaseProjection):
        account_id = Identifier(identifier=True)
        slug = String(max_length=50, unique=True)

    @domain.projector(projector_for=Card, aggregates=[Account])
    class Cards:
        @handle(Changed)
        def on_changed(self, event: Changed) -> None:
            domain.repository_for(Card).add(Card(account_id=event.account_id, slug=event.owner))

    domain.init(traverse=False)
    domain.Account, domain.Changed, domain.Open, domain.Card = Account, Changed, Open, Card  # type: ignore[attr-defined]
    if not direct:
        with domain.domain_context():
            del domain.providers.database("default").commit_row  # the transaction's path
    return domain


@pytest.fixture
def domain(tmp_path: Path) -> Any:
    domain = build(tmp_path / "rows.db")
    with domain.domain_context():
        domain.setup_database()
        yield domain
    domain.shutdown()


def _stored(domain: Domain) -> list[tuple[Any, ...]]:
    return [
        (m["metadata"]["kind"], m["metadata"]["stream"], m["metadata"]["position"], m["data"])
        for m in domain.event_store.read_all()
    ]


def test_a_command_commits_with_four_statements_and_its_messages_get_their_positions(domain):
    domain.process(domain.Open(account_id="a-0", owner="zero", balance=decimal.Decimal("0")))
    store = domain.event_store
    sent: list[str] = []
    with store.engine.observe(lambda sql, _params: sent.append(" ".join(sql.split()[:3]))):
        domain.process(domain.Open(account_id="a-1", owner="ann", balance=decimal.Decimal("10.05")))
    # the command's unit of work (its stream's head read: it is keyed by account_id),
    # then the projector's row alone (one statement)
    assert sent == [
        "BEGIN IMMEDIATE",
        "INSERT INTO rows_account",
        "SELECT max(archipel_events.position) AS",
        "INSERT INTO archipel_events",
        "COMMIT",
        "INSERT INTO rows_card",
    ], sent
    account = domain.repository_for(domain.Account).get("a-1")
    assert account.balance == decimal.Decimal("10.05") and account._version == 0
    (event,) = store.read_stream("rows::account-a-1")
    assert event["metadata"]["position"] == 0 and event["data"]["balance"] == "10.05"
    messages = store.read_all()
    assert [m["metadata"]["global_position"] for m in messages] == list(range(1, len(messages) + 1))
    # a raised event learns its positions once committed
    account = domain.Account(id="a-2", owner="cy", balance=decimal.Decimal("-0.01"))
    account.raise_(domain.Changed(account_id="a-2", owner="cy", balance=decimal.Decimal("-0.01")))
    (raised,) = account._events
    domain.repository_for(domain.Account).add(account)
    assert (raised._metadata.position, raised._metadata.global_position) == (0, len(messages) + 1)


def test_an_identity_taken_stores_nothing_of_the_second_command(domain):
    domain.process(domain.Open(account_id="a-1", owner="ann", balance=decimal.Decimal("1")))
    before = _stored(domain)
    with pytest.raises(ExpectedVersionError, match="a-1"):
        domain.process(domain.Open(account_id="a-1", owner="bob", balance=decimal.Decimal("2")))
    assert _stored(domain) == before
    assert domain.repository_for(domain.Account).get("a-1").owner == "ann"


def test_a_stale_version_stores_neither_the_row_nor_the_events(domain):
    domain.process(domain.Open(account_id="a-1", owner="ann", balance=decimal.Decimal("1")))
    repo = domain.repository_for(domain.Account)
    first, stale = repo.get("a-1"), repo.get("a-1")
    first.owner = "first"
    repo.add(first)
    before = _stored(domain)
    stale.owner = "stale"
    stale.raise_(domain.Changed(account_id="a-1", owner="stale", balance=decimal.Decimal("1")))
    with pytest.raises(ExpectedVersionError):
        repo.add(stale)
    assert _stored(domain) == before
    assert repo.get("a-1").owner == "first" and repo.get("a-1")._version == 1


def test_a_unique_value_taken_fails_the_projector_and_keeps_the_first_row(domain):
    domain.process(domain.Open(account_id="a-1", owner="same", balance=decimal.Decimal("1")))
    with pytest.raises(TransactionError, match="slug is unique") as caught:
        domain.process(domain.Open(account_id="a-2", owner="same", balance=decimal.Decimal("2")))
    assert isinstance(caught.value.__cause__, ValidationError)
    cards = domain.repository_for(domain.Card)
    assert cards.get("a-1").slug == "same" and cards.get_or_none("a-2") is None
    # the command committed before its projector ran (a synchronous projector)
    assert domain.repository_for(domain.Account).get("a-2").owner == "same"


def test_a_stream_position_taken_leaves_neither_the_row_nor_the_command(domain):
    store = domain.event_store
    ghost = domain.Account(id="a-1", owner="ghost")
    ghost.raise_(domain.Changed(account_id="a-1", owner="ghost", balance=decimal.Decimal("0")))
    store.append(ghost._events)  # position 0 of the stream, no row
    before = _stored(domain)
    with pytest.raises(ExpectedVersionError, match="position 0"):
        domain.process(domain.Open(account_id="a-1", owner="ann", balance=decimal.Decimal("1")))
    assert _stored(domain) == before
    assert domain.repository_for(domain.Account).get_or_none("a-1") is None


# letters and digits (a String field strips spaces; the projector's slug is unique)
owners = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=20)
balances = st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**9, max_value=10**9)


@SETTINGS
@given(st.lists(st.tuples(owners, balances), min_size=1, max_size=6, unique_by=lambda t: t[0]))
def test_the_direct_path_stores_what_the_transaction_stores(tmp_path_factory, accounts):
    """Property: the same commands on a domain with the direct path and on one without
    it store the same rows and messages (money exactly), at the same positions."""
    results = []
    for direct in (True, False):
        domain = build(tmp_path_factory.mktemp("rows") / "rows.db", direct=direct)
        with domain.domain_context():
            domain.setup_database()
            for i, (owner, balance) in enumerate(accounts):
                domain.process(domain.Open(account_id=f"a-{i}", owner=owner, balance=balance))
            repo = domain.repository_for(domain.Account)
            rows = [
                (a.owner, a.balance, a._version) for a in (repo.get(f"a-{i}") for i in range(len(accounts)))
            ]
            messages = [
                (m["metadata"]["kind"], m["metadata"]["position"], m["metadata"]["global_position"], m["data"])
                for m in domain.event_store.read_all()
            ]
            results.append((rows, messages))
        domain.shutdown()
    assert results[0] == results[1]
    assert [balance for _, balance, _ in results[0][0]] == [b for _, b in accounts]
