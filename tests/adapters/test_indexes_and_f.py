"""Declared indexes are created by ``setup_database`` on SQL providers; ``F`` compares two
fields of the same record identically on every provider."""

from __future__ import annotations

import decimal

import pytest
import sqlalchemy as sa

from archipel import BaseAggregate, F, Index, Q
from archipel.errors import (
    ConfigurationError,
    IncorrectUsageError,
    NotSupportedError,
    ValidationError,
)
from archipel.fields import Decimal, Integer, String
from tests.adapters.conftest import SQL_PROVIDERS, start


def build_tickets(make_domain, indexes=()):
    domain = make_domain()

    @domain.aggregate(indexes=list(indexes))
    class Ticket(BaseAggregate):
        code = String(max_length=20)
        status = String(max_length=10)
        priority = Integer()
        retries = Integer()
        max_retries = Integer()
        spent = Decimal()
        budget = Decimal()

    start(domain)
    return domain, Ticket


def _indexes(domain, cls):
    database = domain.providers.database("default")
    table = domain.schema_for(cls).table
    engine = sa.create_engine(database.engine.url) if hasattr(database.engine, "url") else None
    assert engine is not None
    try:
        return {ix["name"]: ix for ix in sa.inspect(engine).get_indexes(table)}
    finally:
        engine.dispose()


@pytest.mark.parametrize("provider", SQL_PROVIDERS)
def test_declared_indexes_are_created_by_setup(make_domain, provider):
    domain, ticket = build_tickets(
        make_domain,
        [
            Index("status", "priority", desc=("priority",)),
            Index("code", unique=True, name="ix_ticket_code"),
            Index("status", where=Q(status="open"), name="ix_ticket_open"),
        ],
    )
    found = _indexes(domain, ticket)
    table = domain.schema_for(ticket).table
    assert {f"{table}_ix_status_priority", "ix_ticket_code", "ix_ticket_open"} <= set(found)
    assert found["ix_ticket_code"]["unique"]
    assert found[f"{table}_ix_status_priority"]["column_names"][0] == "status"
    with domain.domain_context():
        repo = domain.repository_for(ticket)
        repo.add(ticket(code="A1", status="open", priority=1))
        with pytest.raises(ValidationError, match="code"):  # the unique index holds
            repo.add(ticket(code="A1", status="closed", priority=2))
        assert [t.code for t in repo.query.filter(status="open").all()] == ["A1"]


def test_an_index_on_an_unknown_field_is_a_configuration_error(make_domain):
    domain = make_domain()

    @domain.aggregate(indexes=[Index("nope")])
    class Thing(BaseAggregate):
        name = String()

    with pytest.raises(ConfigurationError, match=r"Thing: Index\('nope',\) names unknown field"):
        domain.init(traverse=False)


def test_index_arguments_are_checked():
    with pytest.raises(IncorrectUsageError):
        Index()
    with pytest.raises(IncorrectUsageError, match="desc"):
        Index("a", desc=("b",))


def test_f_compares_two_fields_of_the_same_record(make_domain):
    domain, ticket = build_tickets(make_domain)
    rows = [
        ("t1", 1, 3, "9.50", "10"),
        ("t2", 3, 3, "12", "10"),
        ("t3", 5, 3, "100", "99.99"),
        ("t4", None, 3, None, "1"),
    ]
    with domain.domain_context():
        repo = domain.repository_for(ticket)
        for code, retries, max_retries, spent, budget in rows:
            repo.add(ticket(code=code, retries=retries, max_retries=max_retries, spent=spent, budget=budget))
        query = repo.query

        def codes(**lookup):
            return sorted(t.code for t in query.filter(**lookup).all())

        assert codes(retries__lt=F("max_retries")) == ["t1"]
        assert codes(retries__gte=F("max_retries")) == ["t2", "t3"]
        assert codes(retries=F("max_retries")) == ["t2"]
        assert codes(spent__gt=F("budget")) == ["t2", "t3"]  # decimals compare as numbers
        assert codes(spent__lte=F("budget")) == ["t1"]
        assert sorted(t.code for t in query.filter(Q(retries__lt=F("max_retries")) | Q(code="t4")).all()) == [
            "t1", "t4",
        ]
        with pytest.raises(NotSupportedError):
            query.filter(code__contains=F("status")).all()
        assert decimal.Decimal("12") == repo.get(next(t.id for t in query.filter(code="t2").all())).spent
