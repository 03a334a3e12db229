"""``domain.connection_for(Projection)`` (Protean's escape hatch): the raw connection of the
projection's database, on every database adapter."""

from __future__ import annotations

import uuid

import pytest

from archipel import BaseAggregate, BaseProjection, Domain
from archipel.adapters.memory.database import MemoryDatabase
from archipel.errors import IncorrectUsageError
from archipel.fields import Identifier, Integer, String

PG = pytest.param("postgresql", marks=pytest.mark.postgres)


@pytest.fixture(params=["memory", "sqlite", PG])
def domain(request, tmp_path):
    if request.param == "memory":
        database = {"provider": "memory"}
    elif request.param == "sqlite":
        database = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'raw.db'}"}
    else:
        database = {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}
    domain = Domain(name=f"Raw{uuid.uuid4().hex[:6]}", config={"databases": {"default": database}})
    yield domain
    if domain.initialized:
        with domain.domain_context():
            domain.drop_database()
        domain.shutdown()


def test_a_projection_is_read_through_its_raw_connection(domain):
    @domain.projection
    class Sales(BaseProjection):
        sku = Identifier(identifier=True)
        label = String(max_length=50)
        sold = Integer(default=0)

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        repo = domain.repository_for(Sales)
        repo.add(Sales(sku="a", label="Apples", sold=3))
        repo.add(Sales(sku="b", label="Pears", sold=5))
        table = domain.schema_for(Sales).table

        with domain.connection_for(Sales) as conn:
            if isinstance(conn, MemoryDatabase):
                rows = sorted((r["sku"], r["sold"]) for r in conn.records(table))
            else:
                cursor = conn.cursor()
                cursor.execute(f"SELECT sku, sold FROM {table} ORDER BY sku")  # noqa: S608 - our table name
                rows = [tuple(row) for row in cursor.fetchall()]
                cursor.close()
        assert rows == [("a", 3), ("b", 5)]

        # the connection went back: archipel's own work goes on
        repo.add(Sales(sku="c", label="Plums", sold=1))
        assert repo.get("c").sold == 1


def test_only_projections_have_a_connection(domain):
    @domain.aggregate
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)

    domain.init(traverse=False)
    with domain.domain_context(), pytest.raises(IncorrectUsageError, match=r"projection, got Order \(aggregate\)"):
        with domain.connection_for(Order):
            pass
