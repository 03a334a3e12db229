"""Pooled connections outlive a PostgreSQL restart: the next operations reconnect."""

from __future__ import annotations

import uuid

import pytest

from archipel import BaseAggregate, BaseProjection, Domain
from archipel.fields import Identifier, Integer, String

pytestmark = pytest.mark.postgres


@pytest.fixture
def domain(postgres_server, postgres_db_url):
    domain = Domain(
        name=f"Restart{uuid.uuid4().hex[:6]}",
        config={
            "databases": {"default": {"provider": "postgresql", "database_uri": postgres_db_url}},
            "event_store": {"provider": "postgresql"},
        },
    )

    @domain.aggregate
    class Item(BaseAggregate):
        name = String()

    @domain.projection
    class Tally(BaseProjection):
        key = Identifier(identifier=True)
        count = Integer(default=0)

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        yield domain, Item, Tally
        domain.drop_database()
    domain.shutdown()


def test_reads_and_writes_work_after_a_restart(domain, postgres_server):
    domain, item_cls, tally_cls = domain
    items = domain.repository_for(item_cls)
    tallies = domain.repository_for(tally_cls)
    for number in range(5):  # several pooled connections
        items.add(item_cls(id=f"i{number}", name="before"))
    postgres_server.restart(mode="fast")

    assert items.get("i0").name == "before"  # a read on a stale pooled connection
    tallies.add(tally_cls(key="t", count=1))  # a one-statement write
    items.add(item_cls(id="after", name="after"))  # state + events
    assert tallies.get("t").count == 1
    assert len(domain.event_store.read_all()) == 0  # no events raised
    postgres_server.restart(mode="immediate")  # a crash this time
    tallies.add(tally_cls(key="u", count=2))
    assert [t.key for t in tallies.query.order_by("key").all()] == ["t", "u"]


def _terminate_other_backends(postgres_server, postgres_db_url) -> int:
    database = postgres_db_url.rsplit("/", 1)[1]
    with postgres_server.connect(database) as admin:
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        )


def test_reads_outside_a_unit_of_work_reconnect_after_a_restart(domain, postgres_server):
    domain, item_cls, _ = domain
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="i0", name="kept"))
    assert items.get("i0").name == "kept"  # the pool now holds a connection
    postgres_server.restart(mode="immediate")
    assert [i.id for i in items.find(name="kept")] == ["i0"]  # a query first, this time
    postgres_server.restart(mode="fast")
    assert items.get_or_none("i0").name == "kept"
    assert items.get_or_none("missing") is None


def test_a_read_on_a_dead_connection_the_checkout_check_missed_runs_again(domain, postgres_server):
    """The liveness check at checkout is an optimisation: a read still recovers without it.

    The server may go away between the check and the statement; the read
    then fails on the dead connection, which is dropped, and runs once more
    on a new one (a read changes nothing, so running it again is safe).
    """
    domain, item_cls, _ = domain
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="i0", name="kept"))
    pool = domain.providers.database().engine._pool
    pool._alive = lambda _connection: True  # every pooled connection passes the check
    postgres_server.restart(mode="fast")
    assert items.get("i0").name == "kept"
    postgres_server.restart(mode="immediate")
    assert items.count() == 1


def test_reads_outside_a_unit_of_work_after_the_server_ended_their_connections(
    domain, postgres_server, postgres_db_url
):
    domain, item_cls, _ = domain
    items = domain.repository_for(item_cls)
    items.add(item_cls(id="i0", name="kept"))
    assert items.get("i0").name == "kept"
    assert _terminate_other_backends(postgres_server, postgres_db_url) >= 1
    assert items.get("i0").name == "kept"
    assert items.exists("i0")
