"""A projection's ``order_by`` option (Protean's): the default sort of its queries."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel import BaseProjection, Domain
from archipel.errors import ConfigurationError
from archipel.fields import Identifier, Integer, String


def shelf(database: dict | None, order_by=("-score", "name")):
    config = {"databases": {"default": database}} if database else {}
    domain = Domain(name=f"Board{uuid.uuid4().hex[:6]}", config=config)

    @domain.projection(order_by=order_by)
    class Rank(BaseProjection):
        key = Identifier(identifier=True)
        name = String()
        score = Integer()

    domain.init(traverse=False)
    return domain, Rank


@pytest.fixture(params=["memory", "sqlite"])
def database(request, tmp_path):
    return None if request.param == "memory" else {
        "provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'rank.db'}"}


@settings(max_examples=15, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 5)), min_size=1, max_size=12))
def test_queries_follow_the_projection_s_order_unless_told_otherwise(tmp_path_factory, rows):
    for database in (None, {"provider": "sqlite",
                            "database_uri": f"sqlite:///{tmp_path_factory.mktemp('r') / 'rank.db'}"}):
        domain, Rank = shelf(database)
        try:
            with domain.domain_context():
                domain.setup_database()
                records = domain.repository_for(Rank)
                for i, (name, score) in enumerate(rows):
                    records.add(Rank(key=f"k{i}", name=name, score=score))
                expected = sorted(((-s, n) for n, s in rows))
                view = domain.view_for(Rank)
                assert [(-r.score, r.name) for r in view.query.all()] == expected
                assert [(-r.score, r.name) for r in records.find()] == expected
                assert [r.score for r in view.query.order_by("score").all()] == sorted(s for _, s in rows)
        finally:
            domain.shutdown()


@pytest.mark.parametrize("order_by", [("rank",), 5, ("-",)])
def test_an_order_by_that_names_no_field_is_an_error(order_by):
    with pytest.raises(ConfigurationError, match="order_by="):
        shelf(None, order_by=order_by)


def test_one_field_may_be_given_as_a_string(database):
    domain, Rank = shelf(database, order_by="name")
    try:
        assert Rank.meta_.order_by == ("name",)
        with domain.domain_context():
            domain.setup_database()
            for key, name in (("1", "b"), ("2", "a")):
                domain.repository_for(Rank).add(Rank(key=key, name=name, score=0))
            assert [r.name for r in domain.view_for(Rank).query.all()] == ["a", "b"]
    finally:
        domain.shutdown()
