"""``referenced_as`` names a field's column in SQL databases; code keeps the field's name."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from archipel import BaseAggregate
from archipel.fields import Integer, String
from tests.adapters.conftest import SQL_PROVIDERS, start


@pytest.mark.parametrize("provider", SQL_PROVIDERS)
def test_referenced_as_is_the_column_name(make_domain, provider):
    domain = make_domain()

    @domain.aggregate
    class Customer(BaseAggregate):
        email = String(referenced_as="email_address", unique=True)
        visits = Integer(default=0, referenced_as="visit_count")

    start(domain)
    table = domain.schema_for(Customer).table
    engine = sa.create_engine(domain.providers.database("default").engine.url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()
    assert {"email_address", "visit_count"} <= columns and "email" not in columns
    with domain.domain_context():
        repo = domain.repository_for(Customer)
        ann = Customer(email="ann@x", visits=2)
        repo.add(ann)
        assert repo.get(ann.id).email == "ann@x"
        assert [c.visits for c in repo.query.filter(email="ann@x", visits__gte=2).order_by("-visits").all()] == [2]
        ann.visits = 3
        repo.add(ann)
        assert repo.get(ann.id).visits == 3
