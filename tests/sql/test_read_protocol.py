"""A read by identity on PostgreSQL as libpq sees it: one exchange, no transaction left open.

``test_read_round_trips.py`` counts what the server logs (Bind, Execute); a
round trip the log does not show — a lone ``Sync``, a ``Describe`` answered
before the ``Execute``, a transaction opened and left open — is counted here
instead, from libpq's own trace of the pooled connection: per read outside a
unit of work, the client sends Bind, Describe, Execute and one Sync, and
receives one ``ReadyForQuery`` whose status is ``I`` (idle: no transaction).
Whatever reads did, failed ones included, every
connection goes back to the pool idle, and PostgreSQL shows none of them
``idle in transaction``.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import pq

from archipel import Domain, UnitOfWork
from archipel.errors import ArchipelError
from tests.sql._items import items_domain

pytestmark = pytest.mark.postgres

_SENT_PER_READ = ["Bind", "Describe", "Execute", "Sync"]


@pytest.fixture
def reads(postgres_server: Any) -> Iterator[tuple[Domain, type, Any, str]]:
    name = postgres_server.create_database(prefix="t_read_protocol")
    with items_domain(postgres_server, name, "Protocol") as (domain, Item):
        yield domain, Item, postgres_server, name


def _traced(domain: Domain, action: Callable[[], None]) -> list[tuple[str, str, str]]:
    """``action()`` run while libpq traces every pooled connection (none is opened meanwhile):
    (direction F/B, message, rest) per protocol message, connection after connection."""
    pool = domain.providers.database().engine._pool
    leases = list(pool._idle)
    assert leases, "no pooled connection to trace"
    traces = []
    for lease in leases:
        trace = tempfile.TemporaryFile()
        lease.driver_connection.pgconn.trace(os.dup(trace.fileno()))
        lease.driver_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        traces.append(trace)
    try:
        action()
    finally:
        for lease in leases:
            lease.driver_connection.pgconn.untrace()
    assert sorted(map(id, pool._idle)) == sorted(map(id, leases)), "the action opened a connection"
    messages = []
    for trace in traces:
        with trace:
            trace.seek(0)
            lines = trace.read().decode().splitlines()
        # (a statement's text may span lines: only a message's first line starts with F or B and a tab)
        fields = [line.split("\t") for line in lines if line[:2] in ("F\t", "B\t")]
        messages += [(f[0], f[2], f[3].strip() if len(f) > 3 else "") for f in fields]
    return messages


def _exchanges(messages: list[tuple[str, str, str]]) -> list[list[tuple[str, str, str]]]:
    """The messages cut after each ``ReadyForQuery``: one list per round trip."""
    out: list[list[tuple[str, str, str]]] = [[]]
    for message in messages:
        out[-1].append(message)
        if message[:2] == ("B", "ReadyForQuery"):
            out.append([])
    assert out[-1] == [], f"messages after the last ReadyForQuery: {out[-1]}"
    return out[:-1]


def _states(server: Any, database: str) -> list[str]:
    with server.connect() as conn:
        rows = conn.execute(
            "SELECT state FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [row[0] for row in rows]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=st.lists(st.booleans(), min_size=1, max_size=8))
def test_each_read_outside_a_unit_of_work_is_one_exchange_and_leaves_no_transaction(reads, plan):
    """Property: whatever mix of found and missing identities, one round trip per read."""
    domain, item_cls, _, _ = reads
    items = domain.repository_for(item_cls)
    stored = item_cls(name="kept", rank=7)
    items.add(stored)
    items.get(stored.id)  # the connection has prepared the read
    found: list[Any] = []

    def run() -> None:
        for exists in plan:
            found.append(items.get_or_none(stored.id if exists else uuid.uuid4().hex))

    exchanges = _exchanges(_traced(domain, run))
    assert len(exchanges) == len(plan), exchanges
    for exists, exchange, item in zip(plan, exchanges, found, strict=True):
        assert [name for side, name, _ in exchange if side == "F"] == _SENT_PER_READ, exchange
        received = [name for side, name, _ in exchange if side == "B"]
        rows = ["DataRow"] if exists else []
        assert received == [
            "BindComplete",
            "RowDescription",
            *rows,
            "CommandComplete",
            "ReadyForQuery",
        ]
        assert exchange[-1][2] == "I", f"a transaction is open after the read: {exchange[-1]}"
        assert (item.name, item.rank) == ("kept", 7) if exists else item is None


def test_connections_go_back_idle_after_reads_that_failed(reads):
    domain, item_cls, server, database = reads
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="a", name="stored"))
    assert items.get("a").name == "stored"
    with server.connect(database) as conn:
        (table,) = conn.execute(  # the aggregate's table: the only one with a rank column
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'rank'"
            " AND table_schema = current_schema()"
        ).fetchone()
        conn.execute(f'ALTER TABLE "{table}" RENAME TO gone')
    try:
        for _ in range(3):  # outside a unit of work, then inside one
            with pytest.raises(ArchipelError):
                items.get("a")
        with pytest.raises(ArchipelError), UnitOfWork():
            items.get("a")
    finally:
        with server.connect(database) as conn:
            conn.execute(f'ALTER TABLE gone RENAME TO "{table}"')
    pool = domain.providers.database().engine._pool
    assert pool.idle >= 1
    assert all(
        lease.driver_connection.pgconn.transaction_status == pq.TransactionStatus.IDLE
        for lease in pool._idle
    )
    assert "idle in transaction" not in _states(server, database)
    assert items.get("a").name == "stored"  # the pooled connections still serve reads
