"""Repository reads on PostgreSQL: inside a unit of work they see its writes, outside only commits.

Outside a unit of work a read is one statement in autocommit (no
transaction round trips); these tests pin what that must keep: a unit of
work still reads its own writes, even once they were sent to the database
in its open transaction, and nobody else sees them, nor part of a commit.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from archipel import BaseAggregate, Domain, UnitOfWork
from archipel.errors import ConfigurationError
from archipel.fields import Integer, String

pytestmark = pytest.mark.postgres


@pytest.fixture
def domain(postgres_db_url):
    domain = Domain(
        name=f"Reads{uuid.uuid4().hex[:6]}",
        config={
            "databases": {"default": {"provider": "postgresql", "database_uri": postgres_db_url}},
            "event_store": {"provider": "postgresql"},
        },
    )

    @domain.aggregate
    class Item(BaseAggregate):
        name = String()
        batch = Integer(default=0)

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        yield domain, Item
        domain.drop_database()
    domain.shutdown()


def elsewhere(domain, read):
    """``read()`` run on another thread, outside any unit of work; its result."""
    found: list = []

    def run() -> None:
        with domain.domain_context():
            found.append(read())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert found, "the read on the other thread failed"
    return found[0]


def test_a_unit_of_work_reads_its_own_writes_that_nobody_else_sees_before_its_commit(domain):
    domain, item_cls = domain
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="a", name="old"))
    with UnitOfWork():
        a = items.get("a")
        a.name = "new"
        items.add(a)
        items.add(item_cls(id="b", name="new"))
        assert items.get("a").name == "new"
        assert items.get("b").name == "new"
        # a query sends the writes in the unit of work's open transaction...
        assert sorted(i.id for i in items.find(name="new")) == ["a", "b"]
        assert items.count() == 2
        # ...which reads outside it do not see
        seen = elsewhere(
            domain,
            lambda: (items.get("a").name, items.get_or_none("b"), items.find(name="new").total),
        )
        assert seen == ("old", None, 0)
    assert (items.get("a").name, items.get("b").name) == ("new", "new")
    assert items.find(name="new").total == 2


def test_a_unit_of_work_that_fails_leaves_nothing_for_reads(domain):
    domain, item_cls = domain
    items = domain.repository_for(item_cls)
    with pytest.raises(RuntimeError), UnitOfWork():
        items.add(item_cls(id="a", name="dropped"))
        assert items.find(name="dropped").total == 1  # sent, not committed
        raise RuntimeError("boom")
    assert items.get_or_none("a") is None
    assert items.count() == 0


def test_a_read_outside_never_sees_part_of_a_commit(domain):
    """Units of work each commit two items of one batch; a query outside finds 0 or 2."""
    domain, item_cls = domain
    items = domain.repository_for(item_cls)
    batches = 60
    done = threading.Event()
    counts: list[int] = []

    def write() -> None:
        with domain.domain_context():
            for batch in range(1, batches + 1):
                with UnitOfWork():
                    items.add(item_cls(id=f"{batch}-1", name="x", batch=batch))
                    items.add(item_cls(id=f"{batch}-2", name="x", batch=batch))
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while not done.is_set():
            latest = max(1, items.count() // 2)
            counts.append(items.find(batch=latest).total)
            counts.append(items.find(batch=latest + 1).total)
    finally:
        writer.join(60)
    assert set(counts) <= {0, 2}
    assert 2 in counts  # the reader did overlap the writer
    assert items.count() == 2 * batches


def committed_elsewhere(domain, sql: str, params: tuple) -> None:
    """Run ``sql`` in a transaction of a connection of its own (another client's commit)."""
    engine = domain.providers.database("default").engine
    with engine.connection() as conn:
        conn.execute("BEGIN")
        conn.execute(sql, params)
        conn.execute("COMMIT")


def test_reads_by_identity_see_each_commit_made_meanwhile_by_another_connection(domain):
    """Past psycopg's prepare threshold, on the pooled connection's reused cursor: never a stale row."""
    domain, item_cls = domain
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="a", name="v0", batch=0))
    table = domain.providers.database("default").record_table(items.schema).name
    for batch in range(1, 12):
        held = domain.providers.database("default").engine.checkout()  # the next read needs another
        try:
            committed_elsewhere(
                domain,
                f"UPDATE {table} SET name = %s, batch = %s, _version = _version + 1 WHERE id = 'a'",  # noqa: S608 - a test's own table
                (f"v{batch}", batch),
            )
        finally:
            domain.providers.database("default").engine.checkin(held)
        read = items.get("a")
        assert (read.name, read.batch, read._version) == (f"v{batch}", batch, batch)
    assert items.get_or_none("missing") is None


def test_a_unit_of_work_reads_a_commit_made_after_it_began_then_keeps_what_it_loaded(domain):
    domain, item_cls = domain
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="a", name="before"))
    table = domain.providers.database("default").record_table(items.schema).name
    with UnitOfWork():
        committed_elsewhere(
            domain, f"UPDATE {table} SET name = %s WHERE id = 'a'", ("after",)  # noqa: S608
        )
        first = items.get("a")
        assert first.name == "after"  # nothing read yet: the latest commit
        committed_elsewhere(
            domain, f"UPDATE {table} SET name = %s WHERE id = 'a'", ("later",)  # noqa: S608
        )
        assert items.get("a") is first and first.name == "after"  # the unit of work's own copy
    assert items.get("a").name == "later"


def test_a_read_after_shutdown_names_the_missing_database_not_a_closed_one(domain):
    domain, item_cls = domain
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="a", name="x"))
    assert items.get("a").name == "x"  # the database's shared reader is now kept
    domain.providers.close()
    with pytest.raises(ConfigurationError, match="no database named 'default'"):
        items.get("a")
