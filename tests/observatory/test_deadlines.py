"""Process-manager deadlines in the observatory's JSON API, on every storage provider."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from archipel import Domain
from archipel.observatory.app import create_app
from tests.adapters.conftest import PROVIDERS, storage_config
from tests.observatory.checkout import build, populate


@pytest.fixture(params=PROVIDERS)
def checkout(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Domain, list[str]]]:
    config = {**storage_config(str(request.param), request, tmp_path),
              "command_processing": "sync", "event_processing": "sync"}
    domain = build(f"Obs{uuid.uuid4().hex[:6]}", config)
    with domain.domain_context():
        domain.drop_database()
        domain.setup_database()
        pending = populate(domain)
    yield domain, pending
    with domain.domain_context():
        domain.drop_database()
    domain.shutdown()


@pytest.fixture
def client(checkout: tuple[Domain, list[str]]) -> Iterator[TestClient]:
    app = create_app([checkout[0]], interval=0.05, max_stream_seconds=5)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1:9000") as test_client:
        yield test_client


def test_deadline_counts_per_state_and_the_next_due(client: TestClient, checkout: tuple[Domain, list[str]]) -> None:
    domain, pending = checkout
    body = client.get(f"/api/domains/{domain.name}/deadlines").json()
    assert body["domain"] == domain.name
    (checkout_pm,) = body["process_managers"]
    assert {k: checkout_pm[k] for k in ("name", "pending", "fired", "cancelled", "failed")} == {
        "name": "Checkout", "pending": 2, "fired": 1, "cancelled": 1, "failed": 1,
    }
    # the next due: the two pending ones, earliest first, then the failed one with its error
    nxt = body["next"]
    assert [(d["correlation"], d["state"]) for d in nxt[:2]] == [(pending[0], "pending"), (pending[1], "pending")]
    assert nxt[0]["type"].endswith(".PaymentOverdue.v1") and nxt[0]["process_manager"] == "Checkout"
    assert nxt[2]["state"] == "failed" and "mail server is down" in nxt[2]["error"] and nxt[2]["attempts"] == 5
    due = dt.datetime.fromisoformat(nxt[0]["due_at"])
    in_minutes = (due - dt.datetime.now(dt.UTC)).total_seconds() / 60
    assert 25 < in_minutes <= 30
    assert checkout_pm["next_due_at"] == nxt[0]["due_at"]


def test_every_summary_carries_the_deadlines(client: TestClient, checkout: tuple[Domain, list[str]]) -> None:
    domain, _ = checkout
    (summary,) = client.get("/api/domains").json()["domains"]
    assert summary["deadlines"]["process_managers"][0]["pending"] == 2
    assert client.get(f"/api/domains/{domain.snake_name}").json()["deadlines"] == summary["deadlines"]


def test_a_deadline_fired_or_cancelled_later_moves_between_the_counts(
    client: TestClient, checkout: tuple[Domain, list[str]]
) -> None:
    domain, pending = checkout
    paid = domain.registry.by_name["Paid"]
    order_cls = domain.registry.by_name["Order"]
    with domain.domain_context():
        order = domain.repository_for(order_cls).get(pending[1])
        order.raise_(paid(order_id=pending[1]))
        domain.repository_for(order_cls).add(order)
        domain.fire_due_deadlines(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31))
    app_watch = client.app.state.observatory.watches[0]  # type: ignore[attr-defined]
    app_watch._deadlines = None  # the next read is fresh, not the cached second
    (checkout_pm,) = client.get(f"/api/domains/{domain.name}/deadlines").json()["process_managers"]
    assert (checkout_pm["pending"], checkout_pm["fired"], checkout_pm["cancelled"]) == (0, 2, 2)
    assert checkout_pm["next_due_at"] is None


def test_a_domain_without_process_managers_has_no_deadlines(tmp_path: Path) -> None:
    quiet = Domain(name=f"Quiet{uuid.uuid4().hex[:6]}", config={"databases": {"default": {"provider": "memory"}}})
    quiet.init(traverse=False)
    try:
        with TestClient(create_app([quiet]), base_url="http://127.0.0.1:9000") as client:
            body: dict[str, Any] = client.get(f"/api/domains/{quiet.name}/deadlines").json()
        assert (body["process_managers"], body["next"]) == ([], [])
    finally:
        quiet.shutdown()
