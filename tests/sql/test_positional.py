"""SQLite's command statements bind ``?`` placeholders from tuples (not names from dicts).

The events ``INSERT`` and a record's ``INSERT``/``UPDATE`` are compiled by
SQLAlchemy once with SQLite's ``qmark`` style; the values are put in
placeholder order (events: :data:`COLUMNS` per row, positions settled
before the statement, see :mod:`archipel.adapters.sql.sqlite_append`;
records: the compiled order picked from the named parameters). These tests
hold the forms equal value for value, and the stored rows exact.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, Domain
from archipel.adapters.sql.event_insert import COLUMNS
from archipel.adapters.sql.sqlite_append import heads_needed
from archipel.fields import Boolean, Date, Integer, String
from tests.adapters._model import define, full_account, message, record
from tests.adapters.conftest import start

EXAMPLES = int(os.environ.get("ARCHIPEL_HYPOTHESIS_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def model(tmp_path: Path) -> Any:
    config = {
        "databases": {
            "default": {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'app.db'}"}
        },
        "event_store": {"provider": "sqlite"},
        "brokers": {"default": {"provider": "inline"}},
    }
    domain = Domain(name="Positional", config=config)
    model = define(domain)

    class Plain(BaseAggregate):  # no value to convert: a row straight from the record
        name = String(max_length=50)
        count = Integer()
        active = Boolean()
        born = Date()

    model.Plain = domain.aggregate(Plain)
    start(domain)
    with domain.domain_context():
        yield model
    domain.shutdown()


def test_compile_positional_gives_question_marks_and_the_bind_order(model: Any) -> None:
    store = model.domain.event_store
    sql = store.sqlite_insert_sql(2)
    assert ":" not in sql.replace("::", "")  # no named placeholder left
    assert sql.count("?") == 2 * len(COLUMNS)
    # positions are settled before: no subquery, no RETURNING (see sqlite_append)
    assert "SELECT" not in sql and "RETURNING" not in sql
    assert sql.endswith("ON CONFLICT (message_id) DO NOTHING")
    assert sql.split("(", 2)[1].split(")", 1)[0].split(", ") == list(COLUMNS)


def test_a_record_insert_and_update_bind_in_placeholder_order(model: Any) -> None:
    table = model.domain.providers.database("default").record_table(model.schema(model.Account))
    params = table.params(record(model, full_account(model)), 3)
    # INSERT INTO account (id, name, ...) VALUES (?, ?, ...): the values in column order
    columns = table.insert_sql.split("(", 1)[1].split(")", 1)[0].split(", ")
    assert table.insert_sql.count("?") == len(columns)
    assert table.insert_args(params) == tuple(params[c.strip('"')] for c in columns)
    assert table.insert_row(record(model, full_account(model)), 3) == table.insert_args(params)
    # UPDATE account SET name=?, ... WHERE account.id = ? AND account._version = ?
    params.update({"pk__": "a1", "expected__": 2})
    assigned = table.update_sql.split(" SET ", 1)[1].split(" WHERE ", 1)[0].split(", ")
    names = [a.split("=", 1)[0].strip('"') for a in assigned]
    assert table.update_args(params) == (*[params[n] for n in names], "a1", 2)


def test_a_plain_record_row_is_its_values_in_column_order(model: Any) -> None:
    database = model.domain.providers.database("default")
    table = database.record_table(model.schema(model.Plain))
    plain = model.Plain(id="p1", name="n", count=3, active=True, born=dt.date(2024, 2, 29))
    values = plain.to_dict()
    assert table.insert_row(values, 0) == table.insert_args(table.params(values, 0))
    model.domain.repository_for(model.Plain).add(plain)
    found = model.domain.repository_for(model.Plain).get("p1")
    assert (found.name, found.count, found.active, found.born) == ("n", 3, True, dt.date(2024, 2, 29))


STREAMS = st.sampled_from(["acc-1", "acc-2", "order::line-3"])
# any text a String field accepts (no NUL, no lone surrogate)
NAMES = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=6)


@SETTINGS
@given(
    st.lists(
        st.tuples(STREAMS, st.none() | st.integers(0, 5), NAMES),
        min_size=1,
        max_size=6,
    ),
    st.dictionaries(STREAMS, st.integers(-1, 9)),
)
def test_positional_values_are_the_named_values_in_placeholder_order(
    model: Any, batch: list[tuple[str, int | None, str]], stored: dict[str, int]
) -> None:
    """SQLite's values are PostgreSQL's named values, with the position PostgreSQL's
    subquery computes (the stream's last stored position + 1 + the position-less
    messages of the stream before it in the batch) settled in Python."""
    store = model.domain.event_store
    messages = [
        message(model.Opened, stream, position, account_id=stream, name=name)
        for stream, position, name in batch
    ]
    heads = {stream: stored.get(stream, -1) for stream in heads_needed(messages)}
    asked: list[str] = []

    def head(stream: str) -> int:
        asked.append(stream)
        return heads[stream]

    values, positions = store.sqlite_values(messages, head)
    assert asked == heads_needed(messages)  # each stream to read, once, in batch order
    named = store.params(messages)
    assert len(values) == len(messages) * len(COLUMNS)
    for i in range(len(messages)):
        row = values[i * len(COLUMNS) : (i + 1) * len(COLUMNS)]
        expected_position = named[f"position_{i}"]
        if expected_position is None:
            expected_position = heads[named[f"stream_{i}"]] + 1 + named[f"offset_{i}"]
        assert positions[i] == row[COLUMNS.index("position")] == expected_position
        for k, name in enumerate(COLUMNS):
            if name not in ("position", "metadata"):
                assert row[k] == named[f"{name}_{i}"], name
        stored_meta = json.loads(row[COLUMNS.index("metadata")])
        named_meta = json.loads(named[f"metadata_{i}"])
        assert stored_meta.pop("position") == expected_position
        named_meta.pop("position")
        assert stored_meta == named_meta


@SETTINGS
@given(st.lists(st.tuples(STREAMS, NAMES), min_size=1, max_size=6))
def test_appended_events_read_back_exactly(model: Any, batch: list[tuple[str, str]]) -> None:
    store = model.domain.event_store
    before = {stream: store.last_position(stream) for stream, _ in batch}
    messages = [
        message(model.Opened, stream, None, account_id=stream, name=name) for stream, name in batch
    ]
    assert store.append(messages) == len(messages)
    for sent in messages:
        meta = sent._metadata
        (stored,) = store.read_stream(meta.stream, meta.position, meta.position)
        assert stored["data"] == sent.to_dict()
        assert stored["metadata"]["id"] == meta.id
        assert stored["metadata"]["time"] == meta.to_dict()["time"]
        assert stored["metadata"]["global_position"] == meta.global_position
    for stream in before:  # positions follow on, gap-free, in batch order
        mine = [m._metadata.position for m in messages if m._metadata.stream == stream]
        assert mine == list(range(before[stream] + 1, before[stream] + 1 + len(mine)))
