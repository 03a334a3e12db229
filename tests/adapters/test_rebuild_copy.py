"""A rebuild's bulk writes (binary or text ``COPY`` on PostgreSQL, ``executemany`` on
SQLite) store exactly the rows the ordinary writes of the live projection stored.

Three projections fed by one event: ``Narrow`` and ``Numbered`` hold only fields a
binary ``COPY`` encodes (text, 64-bit integers, booleans, text and integer
identities), ``Wide`` every kind a projection can hold (decimals, floats, dates,
date-times with offsets, big integers, JSON lists and dicts), which go through
text ``COPY``. Every value may be missing (NULL). The rows are compared as the
database holds them (PostgreSQL: each row's text form; SQLite: the stored values).
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseEvent, BaseProjection, Domain, current_domain, handle
from archipel.adapters.sql.copy_types import binary_types
from archipel.fields import (
    Boolean,
    Date,
    DateTime,
    Decimal,
    Dict,
    Float,
    Identifier,
    Integer,
    List,
    String,
    Text,
)
from tests.adapters.conftest import SQL_PROVIDERS, start


@pytest.fixture(params=SQL_PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


NARROW = ("name", "text", "count", "flag", "ref")
NUMBERED = ("name", "count", "flag")
WIDE = ("name", "text", "count", "big", "ratio", "amount", "price", "flag", "day", "at", "ref", "items", "data")

# text of every code point a String holds (no NUL, no lone surrogate): accents, CJK, emoji, RTL
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
OFFSETS = st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)),
)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT | st.floats(allow_nan=False,
                                                                                               allow_infinity=False)
VALUES: dict[str, Any] = {
    "name": TEXT.map(lambda text: text[:50]),
    "text": TEXT,
    "count": st.integers(-(2**63), 2**63 - 1) | st.sampled_from([-(2**63), 2**63 - 1, 0, -1]),
    "big": st.integers(-(10**40), 10**40),
    "ratio": st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([-0.0, 5e-324, 1e16, 0.1]),
    "amount": st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12)
    | st.sampled_from(["1.10", "-0.00", "1E-7", "100"]),
    "price": st.sampled_from(["1.10", "0.00", "9.99", "-2", "123456.78"]),  # money
    "flag": st.booleans(),
    "day": st.dates(),
    "at": st.datetimes(timezones=OFFSETS),
    "ref": st.uuids().map(str) | TEXT.filter(bool).map(lambda text: text[:255]),
    "items": st.lists(JSON_SCALARS, max_size=3),
    "data": st.dictionaries(TEXT.map(lambda text: text[:8]), JSON_SCALARS | st.lists(JSON_SCALARS, max_size=2),
                            max_size=3),
}
#: a row's values: any of them missing (NULL)
ROWS = st.lists(st.fixed_dictionaries({}, optional=VALUES), min_size=1, max_size=6)


def define(domain: Domain) -> Any:
    @domain.aggregate
    class Source(BaseAggregate):
        label = String(max_length=10)

    @domain.event(part_of=Source)
    class Recorded(BaseEvent):
        key = Identifier()
        number = Integer()
        name = String(max_length=50)
        text = Text()
        count = Integer()
        big = Integer(big=True)
        ratio = Float()
        amount = Decimal()
        price = Decimal(max_digits=12, decimal_places=2)
        flag = Boolean()
        day = Date()
        at = DateTime()
        ref = Identifier()
        items = List()
        data = Dict()

    @domain.projection
    class Narrow(BaseProjection):
        key = Identifier(identifier=True)
        name = String(max_length=50)
        text = Text()
        count = Integer()
        flag = Boolean()
        ref = Identifier()

    @domain.projection
    class Numbered(BaseProjection):
        number = Identifier(identifier=True, identity_type="integer")
        name = String(max_length=50)
        count = Integer()
        flag = Boolean()

    @domain.projection
    class Wide(BaseProjection):
        key = Identifier(identifier=True)
        name = String(max_length=50)
        text = Text()
        count = Integer()
        big = Integer(big=True)
        ratio = Float()
        amount = Decimal()
        price = Decimal(max_digits=12, decimal_places=2)
        flag = Boolean()
        day = Date()
        at = DateTime()
        ref = Identifier()
        items = List()
        data = Dict()

    def values(event: Recorded, names: tuple[str, ...]) -> dict[str, Any]:
        return {name: getattr(event, name) for name in names if getattr(event, name) is not None}

    @domain.projector(projector_for=Narrow, aggregates=[Source])
    class NarrowProjector:
        @handle(Recorded)
        def recorded(self, event: Recorded) -> None:
            current_domain.repository_for(Narrow).add(Narrow(key=event.key, **values(event, NARROW)))

    @domain.projector(projector_for=Numbered, aggregates=[Source])
    class NumberedProjector:
        @handle(Recorded)
        def recorded(self, event: Recorded) -> None:
            current_domain.repository_for(Numbered).add(Numbered(number=event.number, **values(event, NUMBERED)))

    @domain.projector(projector_for=Wide, aggregates=[Source])
    class WideProjector:
        @handle(Recorded)
        def recorded(self, event: Recorded) -> None:
            current_domain.repository_for(Wide).add(Wide(key=event.key, **values(event, WIDE)))

    start(domain)
    return Source, Recorded, (Narrow, Numbered, Wide)


def stored_rows(domain: Domain, cls: type) -> list[Any]:
    """The rows of ``cls``'s table as the database holds them, in identity order."""
    database = domain.providers.database("default")
    schema = domain.schema_for(cls)
    table = database.engine.dialect.identifier_preparer.quote(schema.table)
    key = database.engine.dialect.identifier_preparer.quote(schema.id_field)
    if database.engine.is_postgres:
        sql = f"SELECT t::text FROM {table} AS t ORDER BY {key}"  # noqa: S608 - quoted identifiers
        return [row[0] for row in database.engine.run(lambda conn: conn.execute(sql).fetchall())]
    sql = f"SELECT * FROM {table} ORDER BY {key}"  # noqa: S608 - quoted identifiers
    # repr: a float's sign and digits, the type of each value
    return [repr(tuple(row)) for row in database.engine.run(lambda conn: conn.execute(sql).fetchall())]


def encoders(domain: Domain, cls: type) -> list[str] | None:
    """What the bulk loader writes ``cls``'s rows with on PostgreSQL (None: text COPY)."""
    database = domain.providers.database("default")
    table = database.record_table(domain.schema_for(cls))
    quoted = database.engine.dialect.identifier_preparer.quote(table.name)
    return database.engine.run(lambda conn: binary_types(table, quoted, conn))  # type: ignore[no-any-return]


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=ROWS, batch_size=st.sampled_from([1, 2, 500]))
def test_rebuilt_rows_of_every_field_type_are_stored_exactly_as_the_ordinary_writes_stored_them(
    make_domain: Any, provider: str, rows: list[dict[str, Any]], batch_size: int
) -> None:
    domain = make_domain()
    Source, Recorded, projections = define(domain)
    numbers = itertools.count(-3)
    with domain.domain_context():
        for values in rows:
            source = Source(label="x")
            source.raise_(Recorded(key=str(uuid.uuid4()), number=next(numbers), **values))
            domain.repository_for(Source).add(source)
        live = {cls.__name__: stored_rows(domain, cls) for cls in projections}
        assert all(live.values())
        for _ in range(2):  # rebuilding twice gives the same rows
            for cls in projections:
                domain.rebuild_projection(cls, batch_size=batch_size)
            assert {cls.__name__: stored_rows(domain, cls) for cls in projections} == live


@pytest.mark.postgres
@pytest.mark.parametrize("provider", ["postgresql"], indirect=True)
def test_binary_copy_writes_only_tables_whose_every_column_it_encodes_faithfully(
    make_domain: Any, provider: str
) -> None:
    domain = make_domain()
    Source, Recorded, (narrow, numbered, wide) = define(domain)
    with domain.domain_context():
        assert encoders(domain, narrow) == ["text", "text", "text", "int8", "bool", "text", "int4"]
        assert encoders(domain, numbered) == ["int8", "text", "int8", "bool", "int4"]
        assert encoders(domain, wide) is None  # decimals, floats, dates, JSON: text COPY


@pytest.mark.postgres
@pytest.mark.parametrize("provider", ["postgresql"], indirect=True)
def test_a_column_whose_type_changed_in_the_database_is_written_as_text_and_stored_exactly(
    make_domain: Any, provider: str
) -> None:
    # the column types are read from the catalog, not assumed from the fields
    domain = make_domain()
    Source, Recorded, (narrow, _, _) = define(domain)
    with domain.domain_context():
        table = domain.schema_for(narrow).table
        domain.providers.database("default").engine.run(
            lambda conn: conn.execute(f'ALTER TABLE "{table}" ALTER COLUMN count TYPE numeric(30, 2)')
        )
        assert encoders(domain, narrow) is None
        for number, count in enumerate((2**63 - 1, -5, None)):
            source = Source(label="x")
            source.raise_(Recorded(key=str(uuid.uuid4()), number=number, name="é", count=count))
            domain.repository_for(Source).add(source)
        live = stored_rows(domain, narrow)
        assert any("9223372036854775807.00" in row for row in live)
        domain.rebuild_projection(narrow)
        assert stored_rows(domain, narrow) == live
