"""A unit of work of one row and no messages (a synchronous projector's) committed without a
transaction object: ``SqlDatabase.commit_row`` (``pg_commit`` on PostgreSQL, ``sqlite_commit``
on SQLite).

What it must keep from the transaction it bypasses, on both databases: the same rows stored
and the same errors (type and text) for any sequence of inserts and version-guarded updates
(an identity taken, a stale or missing row, a unique value taken: property-tested against the
transaction's path on a twin database), one statement per projector commit, and Protean's
synchronous projector semantics: it runs after the command's commit, in its own unit of work,
and its failure does not undo the command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseCommand, BaseEvent, BaseProjection, Domain, handle
from archipel.errors import ExpectedVersionError, TransactionError, ValidationError
from archipel.fields import Decimal, Dict, Float, Identifier, Integer, String

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def build(
    uri: str, path: str = "direct", logging_table: dict[str, Any] | None = None, outbox: bool = False
) -> Domain:
    """The domain on ``uri``; ``path``: how a row alone commits, ``direct`` (``commit_row``),
    ``transaction`` (``SqlTransaction``, its write as a prepared statement on PostgreSQL) or
    ``cursor`` (``SqlTransaction`` through the driver's cursor, as before ``pg_commit``);
    ``logging_table``: its ``[logging]``; ``outbox``: ``enable_outbox``."""
    provider = "postgresql" if uri.startswith("postgresql") else "sqlite"
    config: dict[str, Any] = {
        "databases": {"default": {"provider": provider, "database_uri": uri}},
        "event_store": {"provider": provider},
        "command_processing": "sync",
        "event_processing": "sync",
    }
    if logging_table is not None:
        config["logging"] = logging_table
    if outbox:
        config["enable_outbox"] = True
    domain = Domain(name="Rows", config=config)

    @domain.aggregate
    class Account(BaseAggregate):
        owner = String(max_length=50)

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()
        owner = String(max_length=50)

    @domain.event(part_of=Account)
    class Renamed(BaseEvent):
        account_id = Identifier()
        owner = String(max_length=50)

    @domain.command(part_of=Account)
    class Open(BaseCommand):
        account_id = Identifier()
        owner = String(max_length=50)

    @domain.command(part_of=Account)
    class Rename(BaseCommand):
        account_id = Identifier()
        owner = String(max_length=50)

    @domain.command_handler(part_of=Account)
    class Accounts:
        @handle(Open)
        def open(self, command: Open) -> str:
            account = Account(id=command.account_id, owner=command.owner)
            account.raise_(Opened(account_id=account.id, owner=account.owner))
            domain.repository_for(Account).add(account)
            return str(account.id)

        @handle(Rename)
        def rename(self, command: Rename) -> None:
            account = domain.repository_for(Account).get(command.account_id)
            account.owner = command.owner
            account.raise_(Renamed(account_id=account.id, owner=account.owner))
            domain.repository_for(Account).add(account)

    @domain.projection
    class Card(BaseProjection):
        account_id = Identifier(identifier=True)
        slug = String(max_length=50, unique=True)
        balance = Decimal()
        score = Float()
        notes = Dict()
        renames = Integer(default=0)

    @domain.projector(projector_for=Card, aggregates=[Account])
    class Cards:
        @handle(Opened)
        def on_opened(self, event: Opened) -> None:
            domain.repository_for(Card).add(Card(account_id=event.account_id, slug=event.owner))

        @handle(Renamed)
        def on_renamed(self, event: Renamed) -> None:
            cards = domain.repository_for(Card)
            card = cards.get(event.account_id)
            card.slug = event.owner
            card.renames += 1
            cards.add(card)

    domain.init(traverse=False)
    domain.Account, domain.Open, domain.Rename, domain.Card = Account, Open, Rename, Card  # type: ignore[attr-defined]
    domain.Opened, domain.Renamed = Opened, Renamed  # type: ignore[attr-defined]
    if path != "direct":
        with domain.domain_context():
            db = domain.providers.database("default")
            del db.commit_row  # the transaction's path
            if path == "cursor":
                db.write_alone = None
    return domain


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def uris(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, ...]]:
    """Three fresh databases of the provider under test."""
    if request.param == "sqlite":
        yield tuple(f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db", "c.db"))
        return
    server = request.getfixturevalue("postgres_server")
    names = [server.create_database(prefix="t_rows") for _ in range(3)]
    try:
        yield tuple(server.url(name) for name in names)
    finally:
        for name in names:
            server.drop_database(name)


@pytest.fixture
def domain(uris: tuple[str, ...]) -> Iterator[Domain]:
    domain = build(uris[0])
    with domain.domain_context():
        domain.setup_database()
        yield domain
    domain.shutdown()


def _observed(domain: Domain, action: Callable[[], Any]) -> list[str]:
    sent: list[str] = []
    with domain.event_store.engine.observe(lambda sql, _params: sent.append(" ".join(sql.split()[:3]))):
        action()
    return sent


def test_a_projectors_row_is_one_statement_after_the_commands(domain: Domain) -> None:
    domain.process(domain.Open(account_id="a-0", owner="zero"))  # warm: stream heads known
    sent = _observed(domain, lambda: domain.process(domain.Open(account_id="a-1", owner="ann")))
    # the projector's new row alone, in autocommit, after the command's commit
    assert sent[-1] == "INSERT INTO rows_card", sent
    assert "BEGIN" not in " ".join(sent[sent.index("COMMIT") + 1 :] if "COMMIT" in sent else sent[1:])
    sent = _observed(domain, lambda: domain.process(domain.Rename(account_id="a-1", owner="anna")))
    # the projector reads its row (outside any transaction) and updates it, guarded
    assert sent[-2:] == ["SELECT rows_card.account_id, rows_card.slug,", "UPDATE rows_card SET"], sent
    card = domain.repository_for(domain.Card).get("a-1")
    assert (card.slug, card.renames, card._version) == ("anna", 1, 1)


SLOW = "archipel.adapters.repository.sqlalchemy.slow_query"


@pytest.mark.postgres
@pytest.mark.parametrize("timed", [False, True], ids=["untimed", "slow-query-log"])
def test_on_postgresql_the_row_is_sent_as_an_archipel_prepared_statement(
    postgres_db_url: str, timed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Also with the domain's statements timed for its slow-query log (threshold 0: every
    statement slow): still prepared, timed around the call, logged as ``cursor.execute``
    would have been."""
    domain = build(postgres_db_url, logging_table={"slow_query_threshold_ms": 0} if timed else None)
    with domain.domain_context(), caplog.at_level(logging.WARNING, logger=SLOW):
        domain.setup_database()
        caplog.clear()
        domain.process(domain.Open(account_id="a-1", owner="ann"))
        domain.process(domain.Rename(account_id="a-1", owner="anna"))
        slow = [r for r in caplog.records if r.name == SLOW]
        if timed:
            texts = [" ".join(r.statement.split()[:3]) for r in slow]
            assert "INSERT INTO rows_card" in texts and "UPDATE rows_card SET" in texts, texts
            (update,) = [r for r in slow if r.statement.startswith("UPDATE rows_card")]
            assert update.getMessage() == "repository.sqlalchemy.slow_query" and update.levelno == logging.WARNING
            assert update.threshold_ms == 0.0 and isinstance(update.duration_ms, float)
            assert "%(" in update.statement and update.parameters["slug"] == "anna"  # (as cursor.execute's)
        else:
            assert not slow
        engine = domain.event_store.engine
        # the pool lends the connection given back last: the projector's
        prepared = engine.run(
            lambda conn: conn.execute(
                "SELECT statement FROM pg_prepared_statements WHERE name LIKE '\\_archipel\\_%%'"
            ).fetchall()
        )
        texts = [" ".join(row[0].split()[:3]) for row in prepared]
        assert "INSERT INTO rows_card" in texts and "UPDATE rows_card SET" in texts, texts
        assert domain.repository_for(domain.Card).get("a-1").slug == "anna"
    domain.drop_database()
    domain.shutdown()


def test_a_failing_projector_leaves_the_command_committed(domain: Domain) -> None:
    domain.process(domain.Open(account_id="a-1", owner="same"))
    with pytest.raises(TransactionError, match="slug is unique") as caught:
        domain.process(domain.Open(account_id="a-2", owner="same"))
    assert isinstance(caught.value.__cause__, ValidationError)
    cards = domain.repository_for(domain.Card)
    assert cards.get("a-1").slug == "same" and cards.get_or_none("a-2") is None
    # the command committed before its projector ran (a synchronous projector)
    assert domain.repository_for(domain.Account).get("a-2").owner == "same"
    assert [m["metadata"]["stream"] for m in domain.event_store.read_stream("rows::account-a-2")] == [
        "rows::account-a-2"
    ]
    # and the next command's projector runs as usual
    domain.process(domain.Open(account_id="a-3", owner="other"))
    assert cards.get("a-3").slug == "other"


def test_a_commands_events_learn_their_positions_and_a_stale_save_stores_nothing(domain: Any) -> None:
    domain.process(domain.Open(account_id="a-1", owner="ann"))
    repo = domain.repository_for(domain.Account)
    account = domain.Account(id="a-2", owner="bob")
    account.raise_(domain.Opened(account_id="a-2", owner="bob"))
    (raised,) = account._events
    repo.add(account)  # one row and its event: commit_row with messages
    count = len(domain.event_store.read_all())
    assert (raised._metadata.position, raised._metadata.global_position) == (0, count)
    first, stale = repo.get("a-2"), repo.get("a-2")
    first.owner = "first"
    repo.add(first)
    stale.owner = "stale"
    stale.raise_(domain.Renamed(account_id="a-2", owner="stale"))
    with pytest.raises(ExpectedVersionError, match=r"expected version 0, found 1"):
        repo.add(stale)
    assert len(domain.event_store.read_all()) == count
    assert (repo.get("a-2").owner, repo.get("a-2")._version) == ("first", 1)


def _commit_row(db: Any, schema: Any, record: dict[str, Any], expected: int) -> None:
    db.commit_row(schema, record, expected)


def _through_transaction(db: Any, schema: Any, record: dict[str, Any], expected: int) -> None:
    tx = db.begin()  # as commit_single does without commit_row
    try:
        tx.save(schema, record, expected)
        tx.commit()
    except BaseException:
        tx.rollback()
        raise


def _outcome(action: Callable[[], Any]) -> tuple[str, str]:
    try:
        action()
    except Exception as exc:  # the error's type and text must match the transaction's
        cause = exc.__cause__
        return type(exc).__name__, str(exc) + (f" <- {type(cause).__name__}" if cause is not None else "")
    return "ok", ""


writes = st.lists(
    st.tuples(
        st.sampled_from(["c0", "c1", "c2"]),  # identity
        st.sampled_from(["s0", "s1", "s2", "s3"]),  # slug (unique)
        st.integers(-1, 2),  # the version expected (-1: a new row)
        st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**6, max_value=10**6),
        st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.none() | st.dictionaries(st.sampled_from(["a", "b"]), st.integers(-5, 5), max_size=2),
    ),
    min_size=1,
    max_size=10,
)


@SETTINGS
@given(steps=writes)
def test_a_row_committed_alone_stores_and_fails_as_the_transaction_does(
    uris: tuple[str, ...], steps: list[tuple[Any, ...]]
) -> None:
    """Property: each write of ``steps`` (inserts of new or taken identities and unique slugs,
    updates expecting the right, a stale or a missing row's version) gives the same outcome,
    error text included, through ``commit_row``, through a transaction and through a
    transaction sending it with the driver's cursor, and the databases end with the same rows."""
    results = []
    for uri, path in zip(uris, ("direct", "transaction", "cursor"), strict=True):
        domain = build(uri, path)
        direct = path == "direct"
        with domain.domain_context():
            domain.setup_database()
            domain.truncate_database()
            db = domain.providers.database("default")
            schema = domain.schema_for(domain.Card)
            assert (getattr(db, "commit_row", None) is not None) is direct
            outcomes = []
            for identity, slug, expected, balance, score, notes in steps:
                card = domain.Card(account_id=identity, slug=slug, balance=balance, score=score, notes=notes)
                commit = _commit_row if direct else _through_transaction
                outcomes.append(_outcome(lambda: commit(db, schema, card.to_dict(), expected)))  # noqa: B023 - called at once
            repo = domain.repository_for(domain.Card)
            rows = sorted(
                (c.account_id, c.slug, c.balance, c.score, c.notes, c._version) for c in repo.query.all().items
            )
            results.append((outcomes, rows))
        domain.shutdown()
    assert results[0] == results[1] == results[2]
    # something was stored whenever a first insert was asked for
    if any(expected == -1 for _, _, expected, *_ in steps):
        assert results[0][1]


commands = st.lists(
    st.tuples(
        st.sampled_from(["open", "rename", "stale", "ghost"]),
        st.integers(0, 2),  # which account
        st.sampled_from(["ann", "bob", "cy"]),  # owner (the projection's slug is unique)
    ),
    min_size=1,
    max_size=8,
)


def _run_command(domain: Any, step: tuple[str, int, str]) -> None:
    kind, i, owner = step
    ident = f"a-{i}"
    if kind == "open":  # one aggregate and its event: commit_row with messages
        domain.process(domain.Open(account_id=ident, owner=owner))
    elif kind == "rename":  # a command that read its aggregate: the transaction
        domain.process(domain.Rename(account_id=ident, owner=owner))
    elif kind == "stale":  # an aggregate saved from a version another save replaced
        repo = domain.repository_for(domain.Account)
        first, stale = repo.get(ident), repo.get(ident)
        first.owner = first.owner + "!"
        repo.add(first)
        stale.owner = owner
        stale.raise_(domain.Renamed(account_id=ident, owner=owner))
        repo.add(stale)
    else:  # a stream position taken by events stored without their aggregate's row
        ghost = domain.Account(id=ident, owner=owner)
        ghost.raise_(domain.Opened(account_id=ident, owner=owner))
        domain.event_store.append(ghost._events)


@SETTINGS
@given(steps=commands)
def test_a_commands_row_and_events_commit_as_the_transaction_commits_them(
    uris: tuple[str, ...], steps: list[tuple[str, int, str]]
) -> None:
    """Property: commands (new aggregates and their events, identities and stream positions
    taken, stale versions) give the same outcomes and store the same rows and messages, at
    the same positions, with ``commit_row`` as through the transaction (prepared or not)."""
    results = []
    for uri, path in zip(uris, ("direct", "transaction", "cursor"), strict=True):
        domain: Any = build(uri, path)
        with domain.domain_context():
            domain.setup_database()
            domain.truncate_database()
            outcomes = [_outcome(lambda: _run_command(domain, step)) for step in steps]  # noqa: B023 - called at once
            accounts = sorted((a.id, a.owner, a._version) for a in domain.repository_for(domain.Account).query.all().items)
            cards = sorted((c.account_id, c.slug, c.renames, c._version) for c in domain.repository_for(domain.Card).query.all().items)
            messages = [
                (m["metadata"]["kind"], m["metadata"]["type"], m["metadata"]["stream"], m["metadata"]["position"],
                 m["metadata"]["global_position"], m["data"])
                for m in domain.event_store.read_all()
            ]
            results.append((outcomes, accounts, cards, messages))
        domain.shutdown()
    assert results[0] == results[1] == results[2]
