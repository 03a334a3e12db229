"""A transaction of many writes on PostgreSQL (an engine batch) commits as one statement.

The processed records, the rows (new rows of a table in one CTE, optimistic
updates, deletes) go as one statement of data-modifying CTEs
(``adapters/sql/batch_statement.py``), as libpq's trace of the pooled
connections shows: one exchange, no ``BEGIN`` or ``COMMIT``, one
``ReadyForQuery`` (idle). An update at a version that
moved on, or a processed record a twin committed, fails its statement: nothing
of the transaction is kept, and the error is the one the statement-by-statement
path names (``ExpectedVersionError``, ``DuplicateMessageError``), whatever the
mix of writes (hypothesis). Every connection goes back to the pool idle.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import Domain
from archipel.engine.records import ensure_tables, lease_schema
from archipel.errors import DuplicateMessageError, ExpectedVersionError
from tests.sql._items import items_domain
from tests.sql.test_read_protocol import _exchanges, _states, _traced

pytestmark = pytest.mark.postgres

SUB = "Projector"
START = ("a", "b", "c", "d")


@pytest.fixture
def store(postgres_server: Any) -> Iterator[tuple[Domain, Any, Any, str]]:
    name = postgres_server.create_database(prefix="t_batch_statement")
    with items_domain(postgres_server, name, "BatchStatement") as (domain, _item):
        ensure_tables(domain)
        yield domain, lease_schema(domain), postgres_server, name


def _record(key: str, owner: str) -> dict[str, Any]:
    return {"id": key, "scope": "s", "owner": owner, "expires_at": 1.0, "token": 1}


def _rows(server: Any, database: str, table: str) -> dict[str, tuple[int, str]]:
    with server.connect(database) as conn:
        rows = conn.execute(f'SELECT id, _version, owner FROM "{table}"').fetchall()  # noqa: S608
    return {row[0]: (int(row[1]), row[2]) for row in rows}


def _processed(server: Any, database: str, domain: Domain) -> set[str]:
    table = domain.providers.database("default").processed.name
    with server.connect(database) as conn:
        rows = conn.execute(f'SELECT message_id FROM "{table}"').fetchall()  # noqa: S608
    return {row[0] for row in rows}


def _reset(domain: Domain, schema: Any, server: Any, database: str) -> None:
    """The table holds ``START`` at version 0 each, and message ``m-old`` is recorded."""
    with server.connect(database) as conn:
        conn.execute(f'DELETE FROM "{schema.table}"')  # noqa: S608
        conn.execute(f'DELETE FROM "{domain.providers.database("default").processed.name}"')  # noqa: S608
        conn.commit()
    tx = domain.providers.database("default").begin()
    for key in START:
        tx.save(schema, _record(key, "first"), -1)
    tx.mark_processed_many(SUB, ["m-old"])
    tx.commit()


def test_a_batch_of_writes_is_one_exchange_begin_to_commit(store):
    domain, schema, server, database = store
    _reset(domain, schema, server, database)
    db = domain.providers.database("default")

    new = [f"x{n}" for n in range(12)]  # more writes than one statement takes (combined.py)
    tx = db.begin()
    tx.mark_processed_many(SUB, ["m1", "m2", "m3"], fresh=["m1", "m2", "m3"])
    for key in new:
        tx.save(schema, _record(key, "new"), -1)
    tx.save(schema, _record("a", "second"), 0)  # at its version: the fence's kind of write
    tx.delete(schema, "b")  # (reads whether "b" exists: before the commit)

    exchanges = _exchanges(_traced(domain, tx.commit))
    assert len(exchanges) == 1, exchanges
    sent = [message for message in exchanges[0] if message[0] == "F"]
    assert [message[1] for message in sent if message[1] in ("Execute", "Query")] == ["Execute"]
    text = " ".join(message[2] for message in sent)
    assert "BEGIN" not in text and "COMMIT" not in text
    assert text.index("INSERT") < text.index("UPDATE") < text.index("DELETE")
    assert exchanges[0][-1][:2] == ("B", "ReadyForQuery") and exchanges[0][-1][2].endswith("I")
    rows = _rows(server, database, schema.table)
    assert rows["a"] == (1, "second") and "b" not in rows
    assert {key: rows[key] for key in new} == {key: (0, "new") for key in new}
    assert {"m1", "m2", "m3"} <= _processed(server, database, domain)


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.sampled_from(["p", "q", "r", "s"])),
        st.tuples(st.just("update"), st.sampled_from(START), st.sampled_from([0, 0, 0, 1, -1])),
        st.tuples(st.just("delete"), st.sampled_from(START)),
        st.tuples(st.just("processed"), st.sampled_from(["m1", "m2", "m-old"])),
    ),
    min_size=2,
    max_size=10,
)


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each batch statement returned (True: committed; False: sent again statement by statement)."""
    from archipel.adapters.sql import batch_statement, transaction

    seen: list[bool] = []

    def spy(tx: Any) -> bool:
        seen.append(batch_statement.commit_batch(tx))
        return seen[-1]

    monkeypatch.setattr(transaction, "commit_batch", spy)
    return seen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_all_or_nothing_and_the_usual_errors_whatever_the_writes(store, outcomes, ops):
    domain, schema, server, database = store
    outcomes.clear()
    _reset(domain, schema, server, database)
    db = domain.providers.database("default")
    before = _rows(server, database, schema.table)
    tx = db.begin()
    touched: set[str] = set()
    expected = dict(before)
    stale = twin = False
    ids: list[str] = []
    for op in ops:
        if op[0] == "processed":
            if op[1] not in ids:
                ids.append(op[1])
            continue
        key = op[1]
        if key in touched:
            continue  # one write per row in this test (a second save of a row replaces the first)
        touched.add(key)
        if op[0] == "insert":
            tx.save(schema, _record(key, "new"), -1)
            expected[key] = (0, "new")
        elif op[0] == "update":
            version = op[2]
            tx.save(schema, _record(key, "second"), version)
            stale = stale or version != 0
            expected[key] = (1, "second")
        else:
            tx.delete(schema, key)
            expected.pop(key)
    for n in range(10):  # more writes than one statement takes (combined.py): the pipeline
        tx.save(schema, _record(f"pad{n}", "pad"), -1)
        expected[f"pad{n}"] = (0, "pad")
    if ids:
        # known unrecorded (as the engine's look-ahead says): a recorded one is a twin's
        tx.mark_processed_many(SUB, ids, fresh=ids)
        twin = "m-old" in ids
    if twin or stale:
        with pytest.raises(DuplicateMessageError if twin else ExpectedVersionError):
            tx.commit()
        assert _rows(server, database, schema.table) == before
        assert _processed(server, database, domain) == {"m-old"}
        assert outcomes == [False]  # refused as one statement, named by the usual path
    else:
        tx.commit()
        assert outcomes == [True]
        assert _rows(server, database, schema.table) == expected
        assert _processed(server, database, domain) == {"m-old", *ids}
    assert set(_states(server, database)) <= {"idle"}, "a connection was left in a transaction"


def test_a_unique_violation_is_named_as_before_and_nothing_is_kept(store):
    domain, schema, server, database = store
    _reset(domain, schema, server, database)
    db = domain.providers.database("default")
    tx = db.begin()
    tx.mark_processed_many(SUB, [f"n{uuid.uuid4().hex[:4]}"], fresh=[])
    for n in range(10):
        tx.save(schema, _record(f"new{n}", "x"), -1)
    tx.save(schema, _record("a", "again"), -1)  # inserted as new: "a" exists
    with pytest.raises(ExpectedVersionError):
        tx.commit()
    assert _rows(server, database, schema.table) == {key: (0, "first") for key in START}
    assert set(_states(server, database)) <= {"idle"}


def test_more_single_row_writes_than_one_statement_takes_commit_the_usual_way(store, outcomes):
    from archipel.adapters.sql.batch_statement import MAX_SINGLE

    domain, schema, server, database = store
    _reset(domain, schema, server, database)
    db = domain.providers.database("default")
    keys = [f"u{n}" for n in range(MAX_SINGLE + 1)]
    tx = db.begin()
    for key in keys:
        tx.save(schema, _record(key, "first"), -1)
    tx.commit()
    assert outcomes == [True]  # new rows: one CTE, however many
    tx = db.begin()
    for key in keys:
        tx.save(schema, _record(key, "second"), 0)
    tx.commit()
    assert outcomes == [True]  # (not sent as one statement: one CTE per update is too many)
    rows = _rows(server, database, schema.table)
    assert {key: rows[key] for key in keys} == {key: (1, "second") for key in keys}
