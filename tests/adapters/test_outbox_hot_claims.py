"""Claiming outbox rows on PostgreSQL is a HOT update: each leased row's new version stays on its page.

A relay claims a batch of consecutive rows, i.e. every row of the pages they fill. Were a
row's leased version not to fit on its page, PostgreSQL would write it elsewhere and add
an entry for it to both the primary key and the claim index (non-HOT): three WAL records
and two index inserts more per row, and claim index entries that later claims wade
through. The table's fillfactor leaves room for a leased copy of every row.
"""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.adapters.sql.engine import SqlEngine
from archipel.adapters.sql.outbox import SqlOutbox

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def outbox(postgres_db_url):
    engine = SqlEngine({"database_uri": postgres_db_url, "provider": "postgresql"})
    box = SqlOutbox(engine, sa.MetaData())
    engine.execute_ddl([sa.schema.CreateTable(box.table)] + [sa.schema.CreateIndex(i) for i in box.table.indexes])
    yield box
    engine.execute_ddl([sa.schema.DropTable(box.table)])


@pytest.fixture(scope="module")
def raw(postgres_db_url):
    with psycopg.connect(postgres_db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        yield conn


def pages(raw, table: str) -> dict[int, int]:
    """Each row's heap page."""
    return {
        row_id: int(str(ctid).strip("()").split(",")[0])
        for row_id, ctid in raw.execute(f"SELECT id, ctid FROM {table}").fetchall()  # noqa: S608 - our table
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.integers(min_value=0, max_value=1500),
    stream=st.integers(min_value=1, max_value=120),
    worker=st.integers(min_value=8, max_value=64),
    count=st.integers(min_value=40, max_value=200),
)
def test_a_claimed_row_stays_on_its_page(outbox, raw, payload, stream, worker, count):
    outbox.clear()
    outbox.add(
        {
            "message_id": f"{n:036d}",
            "stream": "shop::order-" + "x" * stream + str(n),
            "type": "Shop.Placed.v1",
            "correlation_id": f"{n:036d}",
            "message": {"metadata": {"id": n}, "data": {"text": "y" * payload}},
        }
        for n in range(count)
    )
    table = outbox.table.name
    before = pages(raw, table)
    claimed = outbox.claim_encoded("w" * worker, limit=count, lease_seconds=30)
    assert len(claimed) == count
    after = pages(raw, table)
    moved = {row_id for row_id, page in after.items() if before[row_id] != page}
    assert not moved, f"{len(moved)} of {count} leased rows left their page (not a HOT update)"
