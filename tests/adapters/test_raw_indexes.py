"""``Index.from_sql(dialect, ddl)`` (Protean's ``RawIndex``): verbatim index DDL run when
the table is created on a database of that dialect, and nowhere else; listed in the IR as
Protean lists it; an unknown dialect is refused at ``init()``."""

from __future__ import annotations

import importlib
import sys
import textwrap
import types

import pytest
import sqlalchemy as sa

from archipel import BaseAggregate, Index
from archipel.core.index import RawIndex
from archipel.errors import ConfigurationError
from archipel.fields import String
from tests.adapters.conftest import start

TABLE = "raw_tickets"
SQLITE_DDL = f'CREATE INDEX ix_raw_sqlite ON "{TABLE}" (code)'
POSTGRES_DDL = f'CREATE INDEX ix_raw_pg ON "{TABLE}" (lower(code))'


def build(make_domain):
    domain = make_domain()

    @domain.aggregate(
        schema_name=TABLE,
        indexes=[Index("status"), Index.from_sql("sqlite", SQLITE_DDL), Index.from_sql("postgresql", POSTGRES_DDL, name="ix_raw_pg")],
    )
    class Ticket(BaseAggregate):
        code = String(max_length=20)
        status = String(max_length=10)

    start(domain)
    return domain, Ticket


def test_the_ddl_of_the_databases_dialect_runs_at_setup(make_domain, provider):
    domain, ticket = build(make_domain)
    with domain.domain_context():
        domain.repository_for(ticket).add(ticket(code="A1", status="open"))
        domain.setup_database()  # again: the table exists, its DDL is not run twice
        assert [t.code for t in domain.repository_for(ticket).query.all()] == ["A1"]
    if provider == "memory":
        return  # no DDL: accepted, nothing to create
    database = domain.providers.database("default")
    engine = sa.create_engine(database.engine.url)
    try:
        names = {ix["name"] for ix in sa.inspect(engine).get_indexes(TABLE)}
    finally:
        engine.dispose()
    ours, other = ("ix_raw_pg", "ix_raw_sqlite") if provider == "postgresql" else ("ix_raw_sqlite", "ix_raw_pg")
    assert ours in names and other not in names


def test_render_gives_the_ddl_of_its_dialect_only(make_domain):
    from archipel.adapters.sql.ddl_render import render_index_ddl

    domain, ticket = build(make_domain)
    schema = domain.schema_for(ticket)
    assert render_index_ddl(schema, "sqlite")[-1] == SQLITE_DDL
    assert render_index_ddl(schema, "postgresql")[-1] == POSTGRES_DDL
    assert SQLITE_DDL not in render_index_ddl(schema, "postgresql")


def test_an_unknown_dialect_is_refused_at_init(make_domain):
    domain = make_domain()

    @domain.aggregate(indexes=[Index.from_sql("oracle", "CREATE INDEX x ON t (a)")])
    class Thing(BaseAggregate):
        name = String(max_length=10)

    with pytest.raises(ConfigurationError, match=r"Thing: RawIndex .* unknown dialect 'oracle'"):
        domain.init(traverse=False)


def test_from_sql_is_a_raw_index():
    raw = Index.from_sql("mysql", "CREATE INDEX x ON t (a)", name="x")
    assert raw == RawIndex(dialect="mysql", ddl="CREATE INDEX x ON t (a)", name="x")


PROGRAM = """
from PKG import Domain, Index
from PKG.core.aggregate import BaseAggregate
from PKG.fields import String

domain = Domain(name="Desk")

@domain.aggregate(indexes=[
    Index("status", unique=True, name="ix_status"),
    Index.from_sql("postgresql", "CREATE INDEX ix_gin ON ticket USING gin (tags)", name="ix_gin"),
    Index.from_sql("sqlite", "CREATE INDEX ix_code ON ticket (code)"),
])
class Ticket(BaseAggregate):
    code = String(max_length=20)
    status = String(max_length=10)

domain.init(traverse=False)
"""


def indexes_in_ir(pkg: str) -> list[dict[str, object]]:
    module = types.ModuleType(f"desk_{pkg}")
    sys.modules[module.__name__] = module
    try:
        exec(compile(textwrap.dedent(PROGRAM).replace("PKG", pkg), module.__name__, "exec"), module.__dict__)  # noqa: S102
        ir = importlib.import_module(f"{pkg}.ir.builder").IRBuilder(module.domain).build()
    finally:
        del sys.modules[module.__name__]
    (cluster,) = ir["clusters"].values()
    return cluster["aggregate"]["indexes"]


def test_the_ir_lists_them_as_protean():
    pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")
    assert indexes_in_ir("archipel") == indexes_in_ir("protean")
