"""A small in-memory domain for the observatory tests, and a client over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseProjection,
    Domain,
    current_domain,
    handle,
)
from archipel.fields import Identifier, Integer, String
from archipel.observatory.app import create_app
from tests.cli.conftest import cli  # noqa: F401 - the in-process CLI runner, for test_command.py

shop = Domain(
    name="ObsShop",
    config={
        "databases": {"default": {"provider": "memory"}},
        "event_store": {"provider": "memory"},
        "command_processing": "sync",
        "event_processing": "sync",
        # rows stay in the outbox (no relay runs here): the dashboard counts them
        "enable_outbox": True,
    },
)


@shop.aggregate
class Item(BaseAggregate):
    name = String(required=True)


@shop.event(part_of=Item)
class ItemAdded(BaseEvent):
    item_id = Identifier(required=True)
    name = String()


@shop.command(part_of=Item)
class AddItem(BaseCommand):
    name = String(required=True)


@shop.command_handler(part_of=Item)
class ItemCommands:
    @handle(AddItem)
    def add(self, command: AddItem) -> None:
        item = Item(name=command.name)
        item.raise_(ItemAdded(item_id=item.id, name=item.name))
        current_domain.repository_for(Item).add(item)


@shop.projection
class ItemCount(BaseProjection):
    key = Identifier(identifier=True)
    total = Integer(default=0)


@shop.projector(projector_for=ItemCount, aggregates=[Item])
class ItemCountProjector:
    @handle(ItemAdded)
    def count(self, event: ItemAdded) -> None:
        repo = current_domain.repository_for(ItemCount)
        try:
            row = repo.get("all")
        except Exception:
            row = ItemCount(key="all", total=0)
        row.total += 1
        repo.add(row)


@shop.event_handler(part_of=Item)
class ItemAudit:
    @handle(ItemAdded)
    def note(self, event: ItemAdded) -> None:
        """Nothing to do: its route is what the dashboard lists."""


quiet = Domain(name="ObsQuiet", config={"databases": {"default": {"provider": "memory"}}})


@pytest.fixture(scope="session")
def domains() -> Iterator[list[Domain]]:
    for domain in (shop, quiet):
        domain.init(traverse=False)
        with domain.domain_context():
            domain.setup_database()
    yield [shop, quiet]
    for domain in (shop, quiet):
        domain.shutdown()


@pytest.fixture
def fresh(domains: list[Domain]) -> list[Domain]:
    """The domains with no data (each test starts from an empty store)."""
    for domain in domains:
        with domain.domain_context():
            domain.truncate_database()
    return domains


def add_items(*names: str) -> None:
    with shop.domain_context():
        for name in names:
            shop.process(AddItem(name=name))


@pytest.fixture
def client(fresh: list[Domain]) -> Iterator[TestClient]:
    app = create_app(fresh, interval=0.05, max_stream_seconds=5)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1:9000") as test_client:
        yield test_client
