"""Protean's query assertions (``archipel.integrations.pytest``) on real SQLite and PostgreSQL.

They observe archipel's own engine: the statements it sends on the driver
connections, which SQLAlchemy's events never see.
"""

from __future__ import annotations

import logging
import uuid

import pytest

from archipel import BaseAggregate, Domain, UnitOfWork
from archipel.errors import IncorrectUsageError
from archipel.fields import Integer, String
from archipel.integrations.pytest import (
    assert_no_overfetch,
    assert_no_subquery_wrap,
    assert_query_count,
    capture_queries,
)
from archipel.integrations.pytest.query_assertions import is_query, limit_values


def _domain(database: dict) -> tuple[Domain, type]:
    domain = Domain(name=f"Queries{uuid.uuid4().hex[:6]}", config={"databases": {"default": database}})

    @domain.aggregate
    class Item(BaseAggregate):
        name = String()
        rank = Integer(default=0)

    domain.init(traverse=False)
    return domain, Item


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        database = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'q.db'}"}
    else:
        database = {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}
    domain, item = _domain(database)
    with domain.domain_context():
        domain.setup_database()
        items = domain.repository_for(item)
        for rank in range(5):
            items.add(item(id=f"i{rank}", name=f"n{rank}", rank=rank))
        yield domain, item
        domain.drop_database()
    domain.shutdown()


def test_a_read_by_id_is_one_query(store):
    domain, item = store
    with assert_query_count(1) as statements:
        assert domain.repository_for(item).get("i3").rank == 3
    assert [s for s in statements if is_query(s)][0].lstrip().upper().startswith("SELECT")


def test_a_wrong_count_fails_naming_the_statements(store):
    domain, item = store
    items = domain.repository_for(item)
    with pytest.raises(AssertionError, match=r"Expected 1 query, got 2:\n  1\. SELECT") as failure:
        with assert_query_count(1):
            items.get("i1")
            items.get("i2")
    assert "2. SELECT" in str(failure.value)


def test_capture_sees_a_unit_of_work_s_writes_in_order_with_their_parameters(store):
    domain, item = store
    items = domain.repository_for(item)
    with capture_queries() as captured, UnitOfWork():
        items.add(item(id="new", name="fresh", rank=9))
    inserts = [(sql, params) for sql, params in captured if sql.lstrip().upper().startswith("INSERT")]
    assert inserts, captured
    flattened = repr([params for _sql, params in inserts])
    assert "fresh" in flattened and "new" in flattened
    assert items.get("new").name == "fresh"  # observing changed nothing


def test_observation_ends_with_the_block(store):
    domain, item = store
    items = domain.repository_for(item)
    with capture_queries() as captured:
        items.get("i1")
    seen = len(captured)
    items.get("i2")
    items.find(name="n2")
    assert len(captured) == seen > 0


def test_nested_blocks_each_see_their_own_statements(store):
    domain, item = store
    items = domain.repository_for(item)
    with capture_queries() as outer:
        items.get("i1")
        with assert_query_count(1):
            items.get("i2")
        items.get("i3")
    assert len([s for s, _ in outer if is_query(s)]) == 3


def test_overfetch_reads_a_bound_limit(store):
    domain, item = store
    items = domain.repository_for(item)
    with assert_no_overfetch(expected_returned=2) as executions:
        items.query.limit(2).all()
    assert any(2 in list(limit_values(sql, params)) for sql, params in executions)
    with pytest.raises(AssertionError, match="Over-fetch detected"):
        with assert_no_overfetch(expected_returned=2):
            items.query.limit(50).all()


def test_no_subquery_wrap_passes_archipel_s_counts(store):
    domain, item = store
    with assert_no_subquery_wrap():
        assert domain.repository_for(item).query.filter(rank__gte=2).all().total == 3


def test_a_database_name_or_the_sqlalchemy_engine_selects_the_engine(store):
    domain, item = store
    engine = domain.providers.databases["default"].engine
    with assert_query_count(1, engine="default"), assert_query_count(1, engine=engine.engine):
        domain.repository_for(item).get("i1")
    with pytest.raises(IncorrectUsageError, match="no database named 'other'"):
        with assert_query_count(1, engine="other"):
            pass


def test_echo_still_logs_while_observed(tmp_path, caplog):
    database = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'e.db'}", "echo": True}
    domain, item = _domain(database)
    with domain.domain_context():
        domain.setup_database()
        domain.repository_for(item).add(item(id="a", name="x"))
        caplog.set_level(logging.INFO, logger="archipel.sql")
        with assert_query_count(1):
            domain.repository_for(item).get("a")
        domain.repository_for(item).get("a")
    domain.shutdown()
    selects = [r for r in caplog.records if r.name == "archipel.sql" and "SELECT" in r.getMessage()]
    assert len(selects) == 2  # echo logs inside and after the observed block


def test_in_memory_the_assertions_observe_nothing_as_in_protean():
    domain, item = _domain({"provider": "memory"})
    with domain.domain_context():
        with assert_query_count(7) as statements, capture_queries() as captured:
            domain.repository_for(item).add(item(id="a", name="x"))
    assert statements == [] and captured == []


@pytest.mark.parametrize(
    ("statement", "params", "expected"),
    [
        ("SELECT * FROM t LIMIT 10", None, [10]),
        ("SELECT * FROM t LIMIT :n", {"n": 7}, [7]),
        ("SELECT * FROM t LIMIT %(n)s", {"n": 7}, [7]),
        ("SELECT * FROM t WHERE a = ? LIMIT ? OFFSET ?", ("x", 4, 0), [4]),
        ("SELECT * FROM t WHERE a = %s LIMIT %s", ["x", 3], [3]),
        ("SELECT * FROM t LIMIT nullif(%(limit__)s::INTEGER, -1)", {"limit__": 5}, [5]),
        ("SELECT * FROM t LIMIT nullif(%(limit__)s::INTEGER, -1)", {"limit__": -1}, []),  # no limit
        ("SELECT * FROM (SELECT * FROM t LIMIT 2) s LIMIT 900", None, [2, 900]),
        ("SELECT * FROM t LIMIT :n", {"m": 7}, []),  # unresolved: skipped, not guessed
    ],
)
def test_limit_values_resolve_literals_and_bound_parameters(statement, params, expected):
    assert list(limit_values(statement, params)) == expected
