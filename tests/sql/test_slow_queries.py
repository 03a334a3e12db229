"""Protean's slow-query log on archipel's own engine (real SQLite and PostgreSQL): each
statement timed while ``...sqlalchemy.slow_query`` is enabled for WARNING, threshold 0
making every statement slow (Protean's ``duration_ms > threshold``)."""

from __future__ import annotations

import logging
import uuid

import pytest

from archipel import BaseAggregate, Domain
from archipel.adapters.sql.echo import EchoLease
from archipel.fields import Integer, String

SLOW = "archipel.adapters.repository.sqlalchemy.slow_query"
QUERY = "archipel.adapters.repository.sqlalchemy.query"


def _domain(database: dict, **logging_table) -> tuple[Domain, type]:
    config = {"databases": {"default": database}, "logging": logging_table}
    domain = Domain(name=f"Slow{uuid.uuid4().hex[:6]}", config=config)

    @domain.aggregate
    class Item(BaseAggregate):
        name = String(max_length=200)
        rank = Integer(default=0)

    domain.init(traverse=False)
    return domain, Item


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    if request.param == "sqlite":
        return {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'slow.db'}"}
    return {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}


@pytest.fixture
def store(database):
    made: list[Domain] = []

    def make(**logging_table):
        domain, item = _domain(database, **logging_table)
        made.append(domain)
        with domain.domain_context():
            domain.setup_database()
        return domain, item

    yield make
    for domain in made:
        with domain.domain_context():
            domain.drop_database()
        domain.shutdown()


def test_threshold_zero_logs_every_statement_as_slow_with_its_text_cut(store, caplog):
    domain, item = store(slow_query_threshold_ms=0, slow_query_truncate_chars=12)
    with caplog.at_level(logging.WARNING, logger=SLOW), domain.domain_context():
        domain.repository_for(item).add(item(id="i1", name="secret-ish", rank=1))
        assert domain.repository_for(item).get("i1").rank == 1
    slow = [r for r in caplog.records if r.name == SLOW]
    assert slow and all(r.getMessage() == "repository.sqlalchemy.slow_query" for r in slow)
    assert all(r.levelno == logging.WARNING and r.threshold_ms == 0.0 for r in slow)
    assert all(isinstance(r.duration_ms, float) and r.duration_ms >= 0 for r in slow)
    assert all(len(r.statement) <= 15 for r in slow)
    cut = [r.statement for r in slow if r.statement.endswith("...")]
    assert any(s.upper().startswith("SELECT") for s in cut) and any(s.upper().startswith("INSERT") for s in cut)
    assert any(r.parameters and "i1" in list(r.parameters) for r in slow)


def test_the_default_threshold_keeps_fast_statements_quiet_and_debug_lists_them(store, caplog):
    domain, item = store(slow_query_threshold_ms=100)  # a local statement is faster
    with caplog.at_level(logging.DEBUG, logger=QUERY), domain.domain_context():
        domain.repository_for(item).add(item(id="i2", name="n", rank=2))
    assert not [r for r in caplog.records if r.name == SLOW]
    queries = [r for r in caplog.records if r.name == QUERY]
    assert queries and all(r.getMessage() == "repository.sqlalchemy.query" and r.threshold_ms == 100.0 for r in queries)


def test_with_the_slow_query_logger_off_connections_are_not_wrapped(store, caplog):
    domain, item = store(slow_query_threshold_ms=0)
    logging.getLogger(SLOW).setLevel(logging.ERROR)
    caplog.clear()  # the schema's statements, before
    try:
        engine = domain.providers.database("default").engine
        lease = engine.checkout()
        assert lease.__class__ is not EchoLease
        engine.checkin(lease)
        with domain.domain_context():
            domain.repository_for(item).add(item(id="i3", name="n", rank=3))
            assert domain.repository_for(item).get("i3").rank == 3
        assert not [r for r in caplog.records if r.name in (SLOW, QUERY)]
        logging.getLogger(SLOW).setLevel(logging.WARNING)
        lease = engine.checkout()
        assert lease.__class__ is EchoLease  # the level is followed at each checkout
        engine.checkin(lease)
    finally:
        logging.getLogger(SLOW).setLevel(logging.NOTSET)


def test_without_slow_query_keys_statements_are_not_timed_even_when_another_domain_asks(store, caplog):
    domain, item = store(level="INFO")  # Protean times every statement; archipel when asked
    other, other_item = store(slow_query_threshold_ms=0)  # another domain of the process asks
    engine = domain.providers.database("default").engine
    lease = engine.checkout()
    assert lease.__class__ is not EchoLease  # the timing is the asking domain's, not the process's
    engine.checkin(lease)
    caplog.clear()  # (the other domain's schema statements)
    with caplog.at_level(logging.DEBUG), domain.domain_context():
        domain.repository_for(item).add(item(id="i4", name="n", rank=4))
    assert not [r for r in caplog.records if r.name in (SLOW, QUERY)]
    with caplog.at_level(logging.DEBUG), other.domain_context():
        other.repository_for(other_item).add(other_item(id="i5", name="n", rank=5))
    assert [r for r in caplog.records if r.name == SLOW and r.threshold_ms == 0.0]


def test_statements_are_timed_on_connections_that_served_untimed_ones_before(store, caplog):
    """A connection keeps a cursor for reuse (``connections.cursor_of``): the timing wrapper
    must not run statements on it past the timing."""
    domain, item = store(slow_query_threshold_ms=0)
    logging.getLogger(SLOW).setLevel(logging.ERROR)  # untimed: the pooled connections serve reads
    try:
        with domain.domain_context():
            domain.repository_for(item).add(item(id="i6", name="n", rank=6))
            for _ in range(3):
                assert len(domain.repository_for(item).query.all().items) == 1
        logging.getLogger(SLOW).setLevel(logging.WARNING)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=SLOW), domain.domain_context():
            assert len(domain.repository_for(item).query.all().items) == 1
        statements = [r.statement for r in caplog.records if r.name == SLOW]
        assert [s for s in statements if s.upper().startswith("SELECT")], statements
    finally:
        logging.getLogger(SLOW).setLevel(logging.NOTSET)
