"""An engine batch's new rows are bound column by column (``RecordTable.unnest_params``):
exactly the columns :meth:`columns_params` makes of one :meth:`params` dict per row, whatever
the records (missing fields, JSON values, floats given as text or non-finite) — on SQLite and
PostgreSQL, whose float conversions differ (hypothesis against the row-by-row form)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import Domain
from archipel.fields import Dict, Float, Identifier, Integer, List, String


def _domain(config: dict[str, Any]) -> Domain:
    domain = Domain(name=f"Unnest{uuid.uuid4().hex[:6]}", config=config)

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


@pytest.fixture(params=["sqlite", "postgresql"])
def table(request: Any, tmp_path: Any) -> Iterator[Any]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/unnest.db"
        server, name = None, None
    else:
        server = request.getfixturevalue("postgres_server")
        name = server.create_database(prefix="t_unnest")
        url = server.url(name)
    domain = _domain({"databases": {"default": {"provider": request.param, "database_uri": url}},
                      "event_store": {"provider": request.param}})
    try:
        with domain.domain_context():
            schema = domain.schema_for(domain.Row)  # type: ignore[attr-defined]
            yield domain.providers.database("default").record_table(schema)
    finally:
        domain.shutdown()
        if server is not None:
            server.drop_database(name)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                     max_leaves=6)
_value = {
    "row_id": st.text(min_size=1, max_size=8),
    "name": st.none() | st.text(max_size=8),
    "rank": st.none() | st.integers(),
    "score": st.none() | st.floats() | st.sampled_from(["NaN", "Infinity", "-Infinity", "1.5"]),
    "extra": st.none() | st.dictionaries(st.text(max_size=4), _json, max_size=3),
    "tags": st.none() | st.lists(_json, max_size=3),
}
_record = st.fixed_dictionaries({}, optional=_value)  # any field may be missing


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_record, max_size=6), data=st.data())
def test_column_by_column_binds_what_row_by_row_did(table, records, data):
    versions = data.draw(st.lists(st.integers(0, 50), min_size=len(records), max_size=len(records)))
    expected = table.columns_params([table.params(r, v) for r, v in zip(records, versions, strict=True)])
    found = table.unnest_params(records, versions)
    assert list(found) == list(expected) == list(table.read_names)
    assert repr(found) == repr(expected)  # (repr: a NaN equals itself there)
