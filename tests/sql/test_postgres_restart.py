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
