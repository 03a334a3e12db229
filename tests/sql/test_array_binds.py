"""Array columns bound as the text of the array (``adapters/sql/array_binds.py``) reach
PostgreSQL as the very values psycopg's list dumper sends, or stay lists for psycopg: checked
against the list itself (hypothesis: any text, quotes, backslashes, braces, NUL, None, ints,
bools), by the array PostgreSQL reads back, and by the rows an engine batch's
``unnest_binds`` stores against the rows ``unnest_params`` (plain lists) stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import Domain
from archipel.adapters.sql.array_binds import (
    Float8Array,
    TextArray,
    float_array,
    int_array,
    register_binary_arrays,
    text_array,
)
from archipel.fields import Dict, Float, Identifier, Integer, List, String

_SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def conn(postgres_server: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(postgres_server.libpq_url(), autocommit=True) as connection:
        register_binary_arrays(connection)  # (as every connection of an engine is)
        yield connection


def _outcome(conn: psycopg.Connection[Any], sql: str, value: Any) -> tuple[str, Any]:
    try:
        return "ok", conn.execute(sql, {"v": value}).fetchone()[0]  # type: ignore[index]
    except (psycopg.Error, ValueError) as exc:  # (psycopg refuses a NUL in Python: ValueError-like DataError)
        return "error", type(exc).__name__


_texts = st.lists(st.none() | st.text() | st.sampled_from(['a"b', "a\\b", "{x}", "NULL", "", " s ", "a,b", "\x00"]),
                  max_size=8)


def test_plain_strings_go_as_array_text() -> None:
    assert text_array(["a", "b c", "é"]) == '{"a","b c","é"}'
    assert isinstance(text_array(["ab", 'c"', "d\\"]), TextArray)  # ASCII, one length: binary
    assert text_array(["é", "a"]) == '{"é","a"}'  # (not ASCII: text)
    assert text_array([None, "a", None, None, "NULL"]) == '{NULL,"a",NULL,NULL,"NULL"}'
    assert text_array([None]) == "{NULL}"
    for kept in ([], ['a"b', "c"], ["a\\b", "cd"], ["a\x00"], ["a\x00", None], [None, 'a"'], [1, 2], ["a", b"b"], [None, 1]):
        assert text_array(kept) is kept


def test_plain_ints_go_as_array_text() -> None:
    assert int_array([1, -2, 3]) == "{1,-2,3}"
    for kept in ([], [1, None], [True, 2], [1.0], ["1"]):
        assert int_array(kept) is kept


@_SETTINGS
@given(values=_texts)
def test_text_array_reads_back_as_the_list(conn: psycopg.Connection[Any], values: list[Any]) -> None:
    for cast in ("varchar", "text"):
        sql = f"SELECT %(v)b::{cast}[]"
        assert _outcome(conn, sql, text_array(values)) == _outcome(conn, sql, values)


@_SETTINGS
@given(values=st.lists(st.none() | st.booleans() | st.integers(-(2**40), 2**40), max_size=8))
def test_int_array_reads_back_as_the_list(conn: psycopg.Connection[Any], values: list[Any]) -> None:
    for cast in ("integer", "bigint"):
        sql = f"SELECT %(v)b::{cast}[]"
        found, expected = _outcome(conn, sql, int_array(values)), _outcome(conn, sql, values)
        assert found[0] == expected[0]
        if found[0] == "ok":
            assert found == expected


def _domain(url: str) -> Domain:
    domain = Domain(name=f"Binds{uuid.uuid4().hex[:6]}", config={
        "databases": {"default": {"provider": "postgresql", "database_uri": url}},
        "event_store": {"provider": "postgresql"}})

    @domain.projection
    class Row:
        row_id = Identifier(identifier=True)
        name = String(max_length=50)
        rank = Integer()
        score = Float(allow_non_finite=True)
        extra = Dict()
        tags = List()

    domain.init(traverse=False)
    domain.Row = Row  # type: ignore[attr-defined]
    return domain


@pytest.fixture(scope="module")
def table(postgres_server: Any) -> Iterator[Any]:
    name = postgres_server.create_database(prefix="t_binds")
    domain = _domain(postgres_server.url(name))
    try:
        with domain.domain_context():
            domain.setup_database()
            schema = domain.schema_for(domain.Row)  # type: ignore[attr-defined]
            db = domain.providers.database("default")
            yield db.record_table(schema), postgres_server.libpq_url(name), db
    finally:
        domain.shutdown()
        postgres_server.drop_database(name)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                     max_leaves=6)
_name = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
_record = st.fixed_dictionaries({}, optional={
    "name": st.none() | _name | st.sampled_from(['q"uote', "back\\slash", "{}", "NULL", ""]),
    "rank": st.none() | st.integers(-(2**31), 2**31 - 1),
    "score": st.none() | st.floats() | st.sampled_from(["NaN", "Infinity", "-Infinity", "1.5"]),
    "extra": st.none() | st.dictionaries(st.text(max_size=4), _json, max_size=3),
    "tags": st.none() | st.lists(_json, max_size=3),
})


def _stored(url: str, sql: str, params: dict[str, Any], table_name: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:  # (rolled back: nothing stays)
        register_binary_arrays(connection)
        connection.execute(sql, params)
        rows = connection.execute(f"SELECT * FROM {table_name} ORDER BY row_id").fetchall()  # noqa: S608
        connection.rollback()
    return [tuple(repr(v) for v in row) for row in rows]  # (repr: a NaN equals itself there)


@_SETTINGS
@given(records=st.lists(_record, max_size=6), data=st.data())
def test_unnest_binds_store_what_lists_store(table: Any, records: list[dict[str, Any]], data: Any) -> None:
    records_table, url, _ = table
    ids = data.draw(st.lists(st.sampled_from(["a", "b\\", 'c"', "d e", "é", "f,g", "{h}"]) | st.uuids().map(str),
                             min_size=len(records), max_size=len(records), unique=True))
    records = [{**r, "row_id": i} for r, i in zip(records, ids, strict=True)]
    versions = data.draw(st.lists(st.integers(0, 50), min_size=len(records), max_size=len(records)))
    sql = records_table.unnest_insert_sql
    assert _stored(url, sql, records_table.unnest_binds(records, versions), records_table.name) == _stored(
        url, sql, records_table.unnest_params(records, versions), records_table.name)


def test_plain_floats_go_as_binary_arrays(postgres_server: Any) -> None:
    assert isinstance(float_array([1.5, float("nan")]), Float8Array)
    with psycopg.connect(postgres_server.libpq_url()) as bare:  # (not an engine's: refused, never mis-sent)
        with pytest.raises(psycopg.errors.CannotCoerce, match="bytea"):
            bare.execute("SELECT %(v)b::float8[]", {"v": float_array([1.5])})
    for kept in ([], [1.5, None], [1, 2.5], ["1.5"]):
        assert float_array(kept) is kept


@_SETTINGS
@given(values=st.lists(st.none() | st.floats() | st.integers(-5, 5), max_size=8))
def test_float_array_reads_back_as_the_list(conn: psycopg.Connection[Any], values: list[Any]) -> None:
    for cast in ("double precision", "real"):
        sql = f"SELECT %(v)b::{cast}[]"
        found, expected = _outcome(conn, sql, float_array(values)), _outcome(conn, sql, values)
        assert repr(found) == repr(expected)


def test_an_engine_connection_binds_float8_arrays(table: Any) -> None:
    engine = table[2].engine  # (its connections get the dumper when they are made)
    found = engine.run(lambda conn: conn.execute("SELECT %(v)b::float8[]", {"v": float_array([1.5, -0.0])}).fetchone())
    assert repr(found[0]) == repr([1.5, -0.0])


_ids = st.integers(0, 40).flatmap(lambda width: st.lists(
    st.text(alphabet=st.characters(max_codepoint=0x10FF, blacklist_categories=("Cs",)), min_size=width, max_size=width)
    | st.text(alphabet='ab"\\{},\x00 ', min_size=width, max_size=width), max_size=8))


@_SETTINGS
@given(values=_ids)
def test_ids_of_one_length_read_back_as_the_list(conn: psycopg.Connection[Any], values: list[Any]) -> None:
    for cast in ("varchar", "varchar(12)", "text"):
        sql = f"SELECT %(v)b::{cast}[]"
        assert _outcome(conn, sql, text_array(values)) == _outcome(conn, sql, values)
