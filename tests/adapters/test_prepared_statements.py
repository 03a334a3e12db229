"""PostgreSQL statements run as prepared statements through libpq (``adapters/sql/prepared.py``):
the same rows and errors as ``cursor.execute``, whatever the parameters' values and types, and
prepared again when the server forgot them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from archipel.adapters.sql import prepared
from archipel.adapters.sql.echo import EchoConnection
from archipel.adapters.sql.prepared import PreparedStatement, count_prepared, run_prepared

pytestmark = pytest.mark.postgres

_SQL = (
    "SELECT %(text)s::VARCHAR AS t, %(number)s::BIGINT AS n, %(real)s::FLOAT8 AS f, "
    "%(when)s::TIMESTAMPTZ AS w, %(doc)s::JSONB AS d, %(amount)s::NUMERIC AS a, "
    "%(number)s::BIGINT + 1 AS again, '100%%' AS percent, %(ids)b::varchar[] AS ids"
)


@pytest.fixture
def conn(postgres_db_url: str) -> Iterator[psycopg.Connection[Any]]:
    url = postgres_db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS prep_t (id varchar PRIMARY KEY, n int)")
        connection.execute("TRUNCATE prep_t")
        yield connection


def _ours(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE '_archipel_%%'").fetchone()
    assert row is not None
    return int(row[0])


texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
values = st.fixed_dictionaries(
    {
        "text": st.none() | texts,
        # across the int2 / int4 / int8 boundaries: psycopg dumps an int as the smallest that fits
        "number": st.none() | st.integers(-(2**63), 2**63 - 2) | st.sampled_from([32767, 32768, 2**31, -(2**31) - 1]),
        "real": st.none() | st.floats(allow_nan=False, allow_infinity=False),
        "when": st.none() | st.datetimes(timezones=st.just(dt.UTC)),
        "doc": st.none() | st.dictionaries(texts, st.integers() | texts, max_size=3).map(Jsonb),
        "amount": st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=3),
        "ids": st.lists(texts, max_size=4),
    }
)


def test_rows_are_those_of_cursor_execute_whatever_the_parameters(conn: psycopg.Connection[Any]) -> None:
    """Property: for any values (NULLs, ints of every width, any text, times, JSON, decimals,
    binary arrays), the prepared statement returns the rows ``cursor.execute`` returns."""
    statement = PreparedStatement(_SQL)

    @settings(max_examples=150, deadline=None)
    @given(params=values)
    def check(params: dict[str, Any]) -> None:
        expected = conn.execute(_SQL, params).fetchall()
        assert run_prepared(conn, statement, params) == expected

    check()
    # one prepared statement per combination of parameter types, at most MAX_PREPARED kept
    assert 1 <= _ours(conn) <= prepared.MAX_PREPARED


def test_a_statement_deallocated_behind_its_back_is_prepared_again(conn: psycopg.Connection[Any]) -> None:
    statement = PreparedStatement("INSERT INTO prep_t (id, n) VALUES (%(id)s, %(n)s) RETURNING n")
    assert run_prepared(conn, statement, {"id": "a", "n": 1}) == [(1,)]
    # psycopg sends DEALLOCATE ALL after a ROLLBACK when it prepared statements itself
    conn.execute("DEALLOCATE ALL")
    assert _ours(conn) == 0
    assert run_prepared(conn, statement, {"id": "b", "n": 2}) == [(2,)]
    assert _ours(conn) == 1
    assert conn.execute("SELECT id, n FROM prep_t ORDER BY id").fetchall() == [("a", 1), ("b", 2)]


def test_errors_are_psycopgs_and_leave_the_connection_usable(conn: psycopg.Connection[Any]) -> None:
    statement = PreparedStatement("INSERT INTO prep_t (id, n) VALUES (%(id)s, %(n)s)")
    assert run_prepared(conn, statement, {"id": "x", "n": 1}) == []
    with pytest.raises(psycopg.errors.UniqueViolation) as raised:
        run_prepared(conn, statement, {"id": "x", "n": 2})
    assert raised.value.sqlstate == "23505"
    assert raised.value.diag.constraint_name == "prep_t_pkey"
    with pytest.raises(psycopg.errors.DivisionByZero):
        run_prepared(conn, PreparedStatement("SELECT 1 / %(zero)s::int"), {"zero": 0})
    with pytest.raises(psycopg.errors.UndefinedTable):
        run_prepared(conn, PreparedStatement("SELECT * FROM no_such_table WHERE id = %(id)s"), {"id": 1})
    assert run_prepared(conn, statement, {"id": "y", "n": 3}) == []
    assert conn.execute("SELECT count(*) FROM prep_t").fetchone() == (2,)


def test_a_lost_connection_is_an_operational_error_the_engine_reads_as_a_disconnect(
    conn: psycopg.Connection[Any], postgres_db_url: str
) -> None:
    from archipel.adapters.sql.engine import SqlEngine

    statement = PreparedStatement("SELECT %(n)s::int")
    assert run_prepared(conn, statement, {"n": 1}) == [(1,)]
    url = postgres_db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError) as raised:
        run_prepared(conn, statement, {"n": 2})
    engine = SqlEngine({"database_uri": postgres_db_url, "provider": "postgresql"})
    try:
        assert engine.is_disconnect(raised.value, conn)
    finally:
        engine.engine.dispose()


def test_old_prepared_statements_are_deallocated_beyond_the_limit(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepared, "MAX_PREPARED", 3)
    statements = [PreparedStatement(f"SELECT {i} + %(n)s::int") for i in range(6)]
    for i, statement in enumerate(statements):
        assert run_prepared(conn, statement, {"n": 1}) == [(i + 1,)]
        assert _ours(conn) == min(i + 1, 3)
    assert run_prepared(conn, statements[0], {"n": 2}) == [(2,)]  # evicted, prepared again
    assert _ours(conn) == 3


def test_wrapped_connections_run_through_the_cursor_and_are_observed(conn: psycopg.Connection[Any]) -> None:
    seen: list[tuple[str, Any]] = []
    wrapped = EchoConnection(conn, lambda sql, params: seen.append((sql, params)))
    statement = PreparedStatement("SELECT %(n)s::int + 1")
    assert run_prepared(wrapped, statement, {"n": 41}) == [(42,)]
    assert seen == [("SELECT %(n)s::int + 1", {"n": 41})]
    assert _ours(conn) == 0


def test_connections_wrapped_only_for_timing_run_prepared_and_are_timed(conn: psycopg.Connection[Any]) -> None:
    """The slow-query log's wrapper: the statement stays prepared, and is timed with the text and
    values ``cursor.execute`` would have had (by name; a tuple in placeholder order)."""
    timed: list[tuple[str, Any, float]] = []
    wrapped = EchoConnection(conn, None, lambda sql, params, ms: timed.append((sql, params, ms)))
    statement = PreparedStatement("SELECT %(n)s::int + %(m)s::int, %(n)s::int")
    assert run_prepared(wrapped, statement, {"n": 41, "m": 1}) == [(42, 41)]
    assert run_prepared(wrapped, statement, (1, 2)) == [(3, 1)]
    insert = PreparedStatement("INSERT INTO prep_t (id, n) VALUES (%(id)s, %(n)s)")
    assert count_prepared(wrapped, insert, {"id": "a", "n": 1}) == 1
    assert _ours(conn) == 2
    assert [(sql, params) for sql, params, _ in timed] == [
        ("SELECT %(n)s::int + %(m)s::int, %(n)s::int", {"n": 41, "m": 1}),
        ("SELECT %s::int + %s::int, %s::int", (1, 2, 1)),
        ("INSERT INTO prep_t (id, n) VALUES (%(id)s, %(n)s)", {"id": "a", "n": 1}),
    ]
    assert all(isinstance(ms, float) and ms >= 0 for _, _, ms in timed)


@pytest.mark.parametrize("sql", ["SELECT %s", "SELECT %(a)s, %(a)b", "SELECT %d"])
def test_statements_without_only_named_placeholders_are_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="placeholder|text and binary"):
        PreparedStatement(sql)


def test_names_repeat_their_number_and_percent_signs_are_unescaped() -> None:
    statement = PreparedStatement("SELECT %(a)s, %(b)b, %(a)s, '5%%'")
    assert statement.text == b"SELECT $1, $2, $1, '5%'"
    assert statement.names == ("a", "b")


def test_values_given_as_a_tuple_in_name_order_are_the_same_as_by_name(conn: psycopg.Connection[Any]) -> None:
    """Property: ``params`` as a tuple (in ``statement.names`` order) returns what the dict
    returns; observers of a wrapped connection see the tuple, in placeholder order."""
    statement = PreparedStatement(_SQL)

    @settings(max_examples=60, deadline=None)
    @given(params=values)
    def check(params: dict[str, Any]) -> None:
        ordered = tuple(params[name] for name in statement.names)
        assert run_prepared(conn, statement, ordered) == run_prepared(conn, statement, params)
        seen: list[tuple[str, Any]] = []
        wrapped = EchoConnection(conn, lambda sql, p: seen.append((sql, p)))
        assert run_prepared(wrapped, statement, ordered) == conn.execute(_SQL, params).fetchall()
        ((sql, sent),) = seen
        assert "%(" not in sql and sent == tuple(params[n] for n in ("text", "number", "real", "when", "doc", "amount", "number", "ids"))

    check()


def test_a_tuple_of_the_wrong_length_is_refused_naming_the_parameters(conn: psycopg.Connection[Any]) -> None:
    statement = PreparedStatement("SELECT %(a)s::int + %(b)s::int")
    assert run_prepared(conn, statement, (1, 2)) == [(3,)]
    with pytest.raises(ValueError, match=r"1 values for the 2 parameters \('a', 'b'\)"):
        run_prepared(conn, statement, (1,))


@pytest.mark.parametrize("wrapped", [False, True], ids=["libpq", "cursor"])
def test_count_prepared_returns_the_rows_written_as_cursor_rowcount_does(
    conn: psycopg.Connection[Any], wrapped: bool
) -> None:
    seen: list[tuple[str, Any]] = []
    target: Any = EchoConnection(conn, lambda sql, params: seen.append((sql, params))) if wrapped else conn
    insert = PreparedStatement("INSERT INTO prep_t (id, n) VALUES (%(id)s, %(n)s)")
    update = PreparedStatement("UPDATE prep_t SET n = n + 1 WHERE n = %(n)s")
    assert count_prepared(target, insert, {"id": "a", "n": 1}) == 1
    assert count_prepared(target, insert, ("b", 1)) == 1
    assert count_prepared(target, update, {"n": 1}) == 2  # both rows
    assert count_prepared(target, update, {"n": 7}) == 0  # none
    assert conn.execute("SELECT id, n FROM prep_t ORDER BY id").fetchall() == [("a", 2), ("b", 2)]
    with pytest.raises(psycopg.errors.UniqueViolation):
        count_prepared(target, insert, {"id": "a", "n": 3})
    assert count_prepared(target, update, {"n": 2}) == 2  # the connection is still usable
    # wrapped: every statement went through the cursor (observed), none prepared by archipel
    assert (len(seen), _ours(conn)) == ((6, 0) if wrapped else (0, 2))
