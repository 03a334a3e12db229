"""What a repository read by identity sends to PostgreSQL, counted in the server's own log.

A read outside a unit of work (or inside one before it sent any write) is one
prepared statement in autocommit: one Bind and one Execute in one round trip
(libpq's ``PQexecPrepared``), no ``BEGIN``/``COMMIT``/``ROLLBACK``, no Parse once
the connection has prepared it. The session's server logs every message of the
test's own database (``log_min_duration_statement = 0`` set on that database),
so an extra transaction statement or a statement prepared again at every read
fails these tests. The values read are checked too: the prepared path returns
what was stored.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel import Domain, UnitOfWork
from tests.sql._items import items_domain

pytestmark = pytest.mark.postgres

#: ``LOG:  duration: 0.012 ms  execute _archipel_5: SELECT ...`` / ``... statement: BEGIN``
_MESSAGE = re.compile(r"\[(\d+)\] LOG:  duration: [\d.]+ ms  (parse|bind|execute|statement)\b")


@pytest.fixture
def logged(postgres_server: Any) -> Iterator[tuple[Domain, type, Any, str]]:
    """A domain on a fresh database whose every statement the server logs."""
    name = postgres_server.create_database(prefix="t_round_trips")
    with postgres_server.connect() as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET log_min_duration_statement = 0')
    with items_domain(postgres_server, name, "Trips") as (domain, Item):
        yield domain, Item, postgres_server, name


def _backends(server: Any, database: str) -> set[int]:
    with server.connect() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return {int(row[0]) for row in rows}


def _messages(server: Any, database: str, reads: Any) -> Counter[str]:
    """The protocol messages archipel's connections sent while ``reads()`` ran, by kind."""
    before = server.logfile.stat().st_size
    reads()
    pids = _backends(server, database)
    assert pids, "archipel holds no connection to the database"
    # the server writes a message's line once it ran: wait until the log stops growing
    size, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = server.logfile.stat().st_size
        if now == size:
            break
        size = now
    with server.logfile.open("rb") as log:
        log.seek(before)
        text = log.read().decode("utf-8", "replace")
    return Counter(kind for pid, kind in _MESSAGE.findall(text) if int(pid) in pids)


def test_a_read_by_identity_outside_a_unit_of_work_is_one_prepared_statement(logged):
    domain, item_cls, server, database = logged
    items = domain.repository_for(item_cls)
    ids = [f"item-{i}" for i in range(4)]
    for i, identity in enumerate(ids):
        items.add(item_cls(id=identity, name=f"n{i}", rank=i))
    for identity in ids:  # the pooled connection prepares the statement once
        items.get(identity)

    def reads() -> None:
        for _ in range(5):
            for i, identity in enumerate(ids):
                found = items.get(identity)
                assert (found.id, found.name, found.rank) == (identity, f"n{i}", i)
            assert items.get_or_none("missing") is None

    sent = _messages(server, database, reads)
    reads_made = 5 * (len(ids) + 1)
    # one Bind and one Execute per read (sent together: one round trip), nothing else
    assert sent == Counter({"bind": reads_made, "execute": reads_made}), sent


def test_a_unit_of_work_reads_before_its_first_write_the_same_way(logged):
    domain, item_cls, server, database = logged
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="a", name="first"))
    items.get("a")

    def reads() -> None:
        with UnitOfWork():
            assert items.get("a").name == "first"
            assert items.get_or_none("b") is None

    # nothing written: no transaction at all, two prepared reads
    assert _messages(server, database, reads) == Counter({"bind": 2, "execute": 2})


def test_a_unit_of_work_reads_its_sent_writes_inside_its_transaction(logged):
    """After a query sent the unit of work's writes, a read by identity runs in its
    transaction (it sees them), not on another connection in autocommit."""
    domain, item_cls, server, database = logged
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="a", name="stored"))
    with UnitOfWork():
        a = items.get("a")
        a.name = "changed"
        items.add(a)
        assert items.find(name="changed").total == 1  # sees its own pending write (laid over the rows read)
        assert items.get("a").name == "changed"
    assert items.get("a").name == "changed"


names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200)


def test_values_read_through_the_prepared_statement_are_those_stored(logged):
    """Property: any text and any 64-bit rank round-trip through the prepared read."""
    domain, item_cls, _, _ = logged
    items = domain.repository_for(item_cls)

    @settings(max_examples=60, deadline=None)
    @given(name=names, rank=st.integers(-(2**63), 2**63 - 1))
    def check(name: str, rank: int) -> None:
        identity = uuid.uuid4().hex
        items.add(item_cls(id=identity, name=name, rank=rank))
        found = items.get(identity)
        assert (found.name, found.rank) == (name, rank)
        with UnitOfWork():
            assert items.get(identity).name == name

    check()
