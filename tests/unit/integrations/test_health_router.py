"""The FastAPI health and readiness router over real adapters."""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("fastapi")
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from archipel.integrations.fastapi import health_router  # noqa: E402
from tests.engine.bank import build_bank  # noqa: E402

ASYNC = {
    "databases": {"default": {"provider": "memory"}},
    "event_store": {"provider": "memory"},
    "brokers": {"default": {"provider": "inline"}},
    "command_processing": "async",
    "event_processing": "async",
}


def bank_with(config):
    bank = build_bank(f"Bank{uuid.uuid4().hex[:6]}", config)
    bank.init(traverse=False)
    with bank.domain_context():
        bank.setup_database()
    return bank


def client_for(*domains, **options) -> TestClient:
    app = FastAPI()
    app.include_router(health_router(list(domains), **options))
    return TestClient(app)


def test_ready_when_database_and_broker_answer_and_lag_is_low():
    bank = bank_with(ASYNC)
    client = client_for(bank, max_lag=10)
    assert client.get("/health").json() == {"status": "ok"}
    answer = client.get("/ready")
    assert answer.status_code == 200
    checks = answer.json()["domains"][bank.name]
    assert checks["database"] == {"status": "up", "outbox_backlog": 0}
    assert checks["broker"]["status"] == "up"
    assert checks["subscriptions"]["status"] == "up" and checks["ready"] is True


def test_not_ready_when_subscriptions_lag_too_far():
    bank = bank_with(ASYNC)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        for seq in range(3):
            bank.process(deposit(account_id="a", amount=1, seq=seq))
    from archipel.engine import run_server
    from archipel.engine.worker import Worker

    # relay the three commands to the broker (no consumer runs): they lag there
    worker = Worker(bank)
    worker.membership.heartbeat()
    with bank.domain_context():
        while worker.relay.tick():
            pass
    worker.membership.leave()
    assert client_for(bank).get("/ready").status_code == 200  # without max_lag, lag is reported only
    strict = client_for(bank, max_lag=0, prefix="/ops")
    answer = strict.get("/ops/ready")
    assert answer.status_code == 503
    subscriptions = answer.json()["domains"][bank.name]["subscriptions"]
    assert subscriptions["status"] == "behind" and subscriptions["max_lag"] == 3
    assert run_server(bank, test_mode=True) == 0
    assert strict.get("/ops/ready").status_code == 200  # caught up


@pytest.mark.postgres
def test_not_ready_when_the_database_is_down(postgres_server):
    name = postgres_server.create_database(prefix="t_health")
    bank = bank_with({**ASYNC, "databases": {"default": {"provider": "postgresql", "database_uri": postgres_server.url(name)}}})
    client = client_for(bank)
    assert client.get("/ready").status_code == 200
    postgres_server.stop()
    try:
        answer = client.get("/ready")
    finally:
        postgres_server.start()
        bank.shutdown()
        postgres_server.drop_database(name)
    assert answer.status_code == 503
    body = answer.json()
    database = body["domains"][bank.name]["database"]
    assert body["status"] == "unavailable" and database["status"] == "down"
    assert "postgresql://" not in answer.text and "Traceback" not in answer.text


def test_protean_s_create_health_router_for_one_domain():
    from archipel.integrations.fastapi import create_health_router

    bank = bank_with(ASYNC)
    app = FastAPI()
    app.include_router(create_health_router(bank, prefix="/ops", max_lag=10))
    client = TestClient(app)
    for path in ("/ops/healthz", "/ops/livez"):
        assert client.get(path).json() == {"status": "ok", "checks": {"application": "running"}}
    ready = client.get("/ops/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "up" and body["checks"]["broker"]["status"] == "up"


@pytest.mark.postgres
def test_create_health_router_is_degraded_when_the_database_is_gone(postgres_server):
    from archipel.integrations.fastapi import create_health_router

    name = postgres_server.create_database(prefix="t_readyz")
    uri = postgres_server.url(name).replace("postgresql+psycopg://", "postgresql://")
    bank = bank_with({**ASYNC, "databases": {"default": {"provider": "postgresql", "database_uri": uri}}})
    client = TestClient(_app_with(create_health_router(bank)))
    assert client.get("/readyz").status_code == 200
    postgres_server.drop_database(name)  # its connections are cut, the database is gone
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "degraded"
    assert answer.json()["checks"]["database"]["status"] == "down"
    assert uri not in answer.text  # no connection string in the answer
    bank.shutdown()


def _app_with(router):
    app = FastAPI()
    app.include_router(router)
    return app
