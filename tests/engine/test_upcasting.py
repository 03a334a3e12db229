"""The async engine upcasts old versions of events before handlers see them.

Old payloads are put on the broker as an older release would have sent them
(memory + inline broker, SQLite + database broker, PostgreSQL + Redis). A
version the upcasters cannot bring to the registered one goes to the
dead-letter queue with a clear error, never skipped; once the missing
upcaster is deployed, replaying the dead letter delivers it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from archipel import BaseAggregate, BaseEvent, BaseEventHandler, BaseUpcaster, Domain, handle
from archipel.core.message import new_message_id, utcnow
from archipel.engine import EngineSettings, run_server
from archipel.engine.dlq import dead_letter_store
from archipel.engine.relay import route_row
from archipel.fields import Identifier, Integer, String
from tests.engine.conftest import kind_config


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    domain = Domain(name=f"Shop{uuid.uuid4().hex[:6]}", config=kind_config(request, tmp_path, request.param, partitions=1))
    seen: list[dict[str, Any]] = []

    @domain.aggregate
    class Order(BaseAggregate):
        total = Integer()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        __version__ = 3
        order_id = Identifier()
        amount = Integer()  # v1: "cents"
        currency = String()  # v3: new, "EUR" before

    @domain.upcaster(event_type=Placed, from_version=2, to_version=3)
    class PlacedV2ToV3(BaseUpcaster):
        def upcast(self, data: dict[str, Any]) -> dict[str, Any]:
            return {**data, "currency": "EUR"}

    @domain.event_handler(part_of=Order)
    class Recorder(BaseEventHandler):
        @handle(Placed)
        def placed(self, event: Placed) -> None:
            seen.append({"amount": event.amount, "currency": event.currency, "v": event._metadata.version})

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
    domain.seen = seen  # type: ignore[attr-defined]
    yield domain
    domain.shutdown()


def _publish_old(domain: Domain, version: int, data: dict[str, Any]) -> None:
    """Put a ``Placed.v<version>`` payload on the broker, as an older release sent it."""
    identity = str(uuid.uuid4())
    stream = f"{domain.snake_name}::order-{identity}"
    message_id = new_message_id()
    payload = {
        "metadata": {
            "id": message_id,
            "type": f"{domain.type_prefix}.Placed.v{version}",
            "kind": "EVENT",
            "stream": stream,
            "time": utcnow().isoformat(),
            "version": version,
            "position": 0,
            "correlation_id": message_id,
            "domain": domain.name,
        },
        "data": {"order_id": identity, **data},
    }
    settings = EngineSettings.from_config(domain.config)
    domain.brokers["default"].publish_many([(route_row({"stream": stream}, settings), payload)])


def test_old_versions_are_upcast_before_the_handler_sees_them(shop: Any) -> None:
    class PlacedV1ToV2(BaseUpcaster):
        def upcast(self, data: dict[str, Any]) -> dict[str, Any]:
            return {"order_id": data["order_id"], "amount": data["cents"]}

    shop.register(PlacedV1ToV2, "upcaster", event_type=f"{shop.type_prefix}.Placed", from_version=1, to_version=2)
    shop.init(traverse=False)
    _publish_old(shop, 1, {"cents": 150})
    _publish_old(shop, 2, {"amount": 7})
    _publish_old(shop, 3, {"amount": 9, "currency": "CHF"})
    assert run_server(shop, test_mode=True) == 0
    assert sorted(shop.seen, key=lambda s: s["amount"]) == [
        {"amount": 7, "currency": "EUR", "v": 3},
        {"amount": 9, "currency": "CHF", "v": 3},
        {"amount": 150, "currency": "EUR", "v": 3},
    ]
    assert dead_letter_store(shop).list() == []


def test_a_version_without_upcaster_path_is_dead_lettered_then_replayed_once_one_exists(shop: Any) -> None:
    _publish_old(shop, 1, {"cents": 150})  # no v1 -> v2 upcaster yet
    _publish_old(shop, 2, {"amount": 7})
    assert run_server(shop, test_mode=True) == 0
    assert shop.seen == [{"amount": 7, "currency": "EUR", "v": 3}]
    (letter,) = dead_letter_store(shop).list()
    assert "no upcaster from" in (letter.error or "") and "v1" in (letter.error or "")

    class PlacedV1ToV2(BaseUpcaster):
        def upcast(self, data: dict[str, Any]) -> dict[str, Any]:
            return {"order_id": data["order_id"], "amount": data["cents"]}

    # the next release adds the missing step; the dead letter is replayed
    shop.register(PlacedV1ToV2, "upcaster", event_type=f"{shop.type_prefix}.Placed", from_version=1, to_version=2)
    shop.init(traverse=False)
    with shop.domain_context():
        assert dead_letter_store(shop).replay_all() == 1
    assert run_server(shop, test_mode=True) == 0
    assert shop.seen[-1] == {"amount": 150, "currency": "EUR", "v": 3}
    assert len(shop.seen) == 2
    assert dead_letter_store(shop).list() == []
