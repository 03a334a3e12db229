"""Tables generated from the domain's schemas, checked in the real databases' catalogs."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from archipel import BaseProjection, Domain
from archipel.adapters.sql.tables import constraint_name
from archipel.fields import Identifier, String
from tests.adapters._model import define

PG = pytest.param("postgresql", marks=pytest.mark.postgres)


@pytest.fixture(params=["sqlite", PG])
def domain(request, tmp_path):
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'tables.db'}"
    else:
        uri = request.getfixturevalue("postgres_db_url")
    domain = Domain(
        name=f"Tab{uuid.uuid4().hex[:6]}",
        config={
            "databases": {"default": {"provider": request.param, "database_uri": uri}},
            "event_store": {"provider": request.param},
        },
    )
    yield domain
    if domain.initialized:
        with domain.domain_context():
            domain.drop_database()
        domain.shutdown()


def columns(domain, table: str) -> dict[str, dict]:
    engine = domain.providers.database().engine.engine
    return {c["name"]: c for c in sa.inspect(engine).get_columns(table)}


@pytest.mark.filterwarnings("ignore:Did not recognize type 'xid8'")
def test_columns_follow_the_fields(domain):
    model = define(domain)
    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        domain.setup_database()  # idempotent
    table = domain.schema_for(model.Account).table
    found = columns(domain, table)
    types = {name: str(c["type"]).upper() for name, c in found.items()}
    postgres = domain.providers.database().engine.is_postgres
    assert types["name"] == "VARCHAR(50)"
    assert types["bio"] == "TEXT"
    assert types["owner"] == "VARCHAR(255)"
    assert types["id"] == "VARCHAR(255)"
    assert types["_version"] == "INTEGER" and not found["_version"]["nullable"]
    assert "_event_position" in types
    if postgres:
        assert types["age"] == "BIGINT"
        assert types["score"] == "DOUBLE PRECISION"
        assert types["balance"] == "NUMERIC"
        assert types["active"] == "BOOLEAN"
        assert types["born"] == "DATE"
        assert types["seen"] == "TIMESTAMP WITH TIME ZONE" or types["seen"].startswith("TIMESTAMP")
        # json keeps the text as written (jsonb would read 1e16 back as an integer)
        for structured in ("address", "tags", "attributes", "notes"):
            assert types[structured] == "JSON"
    else:
        assert types["age"] == "INTEGER"
        # decimals are exact text compared as numbers; floats have no affinity (keeps -0.0)
        assert types["balance"] == "TEXT"
        assert found["balance"].get("collation") in (None, "archipel_decimal")
        assert types["score"] == "BLOB"
        for structured in ("address", "tags", "attributes", "notes", "born", "seen"):
            assert types[structured] == "TEXT"
    inspector = sa.inspect(domain.providers.database().engine.engine)
    assert inspector.get_pk_constraint(table)["constrained_columns"] == ["id"]
    uniques = [u["column_names"] for u in inspector.get_unique_constraints(table)]
    assert ["email"] in uniques
    events = {c["name"] for c in inspector.get_columns("archipel_events")}
    assert {"global_position", "message_id", "stream", "position", "metadata", "data"} <= events
    assert ("tx_id" in events) == postgres
    assert {"archipel_outbox", "archipel_processed_messages"} <= set(inspector.get_table_names())


def test_drop_removes_the_tables(domain):
    define(domain)
    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        domain.drop_database()
    names = set(sa.inspect(domain.providers.database().engine.engine).get_table_names())
    assert not any(name.startswith(domain.snake_name) for name in names)
    assert "archipel_events" not in names


def test_long_names_fit_postgresql(domain):
    @domain.projection
    class AVeryLongProjectionNameThatGoesOnAndOnAndOnBeyondTheLimit(BaseProjection):
        key = Identifier(identifier=True)
        label = String(unique=True)

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        repo = domain.repository_for(AVeryLongProjectionNameThatGoesOnAndOnAndOnBeyondTheLimit)
        repo.add(AVeryLongProjectionNameThatGoesOnAndOnAndOnBeyondTheLimit(key="k", label="x"))
        assert repo.get("k").label == "x"
    name = constraint_name("x" * 80, "pkey")
    assert len(name) == 63


def test_truncate_before_setup_changes_nothing(domain):
    define(domain)
    domain.init(traverse=False)
    with domain.domain_context():
        domain.drop_database()
        domain.truncate_database()  # no tables yet: nothing to empty, no error
        domain.setup_database()
        domain.truncate_database()
        assert domain.event_store.read_all() == []
