"""A one-aggregate domain (``Item``: name, rank) on a fresh PostgreSQL database, for the
tests that watch what a read or a write sends to the server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from archipel import BaseAggregate, Domain
from archipel.fields import Integer, String


@contextmanager
def items_domain(postgres_server: Any, name: str, prefix: str) -> Iterator[tuple[Domain, type]]:
    """``(domain, Item)`` on database ``name`` (dropped afterwards), inside a domain context."""
    domain = Domain(
        name=f"{prefix}{uuid.uuid4().hex[:6]}",
        config={
            "databases": {"default": {"provider": "postgresql", "database_uri": postgres_server.url(name)}},
            "event_store": {"provider": "postgresql"},
        },
    )

    @domain.aggregate
    class Item(BaseAggregate):
        name = String(max_length=200)
        rank = Integer(default=0)

    domain.init(traverse=False)
    try:
        with domain.domain_context():
            domain.setup_database()
            yield domain, Item
    finally:
        domain.shutdown()
        postgres_server.drop_database(name)
