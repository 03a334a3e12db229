"""``archipel server`` fires process-manager deadlines when they fall due."""

from __future__ import annotations

import uuid
from typing import Any

from archipel import Domain
from archipel.engine import run_server
from archipel.handling.deadlines import pending_deadlines
from tests.adapters.test_deadlines import define
from tests.engine.conftest import ASYNC_MEMORY, server_config


def test_the_server_fires_a_due_deadline_once() -> None:
    log: list[str] = []
    domain = Domain(
        name=f"Dl{uuid.uuid4().hex[:6]}",
        config={**ASYNC_MEMORY, "command_processing": "sync",
                "server": {**server_config(partitions=1), "deadline_poll_seconds": 0.02}},
    )
    shop: Any = define(domain, log)
    try:
        with domain.domain_context():
            order = shop.Order()
            order.raise_(shop.Placed(order_id=order.id, items=["book"]))
            domain.repository_for(shop.Order).add(order)
        assert run_server(domain, test_mode=True) == 0  # the PM starts, schedules its deadlines
        with domain.domain_context():
            assert len(pending_deadlines(domain)) == 2
            # the reminder falls due now
            database = domain.providers.database("default")
            from archipel.handling.deadlines import deadline_schema

            schema = deadline_schema(domain)
            tx = database.begin()
            row = next(d for d in pending_deadlines(domain) if "Reminder" in d["message_type"])
            tx.save(schema, {**{k: v for k, v in row.items() if k != "_version"}, "due_at": 0.0}, row["_version"])
            tx.commit()
        assert run_server(domain, test_mode=True) == 0
        with domain.domain_context():
            assert domain.repository_for(shop.Checkout).get(order.id).reminders == 1
            assert [d["message_type"].split(".")[1] for d in pending_deadlines(domain)] == ["PaymentOverdue"]
        assert run_server(domain, test_mode=True) == 0
        with domain.domain_context():
            assert domain.repository_for(shop.Checkout).get(order.id).reminders == 1  # once
    finally:
        domain.shutdown()
