"""The observatory's dead-letter page API (list, inspect, replay, purge), its guard,
traces across a correlation chain, history and /metrics — over an engine that ran for real."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from archipel.engine import run_server
from archipel.engine.dlq import dead_letter_store
from archipel.observatory.app import create_app
from tests.engine.bank import BEHAVIOUR, check_ledgers
from tests.engine.conftest import _reset_behaviour, make_bank  # noqa: F401 - fixtures

LOCAL = "http://127.0.0.1:9000"


@pytest.fixture
def bank(make_bank):  # noqa: F811
    """A bank whose projector dead-lettered two deposits of ``bad`` and one of ``worse``."""
    bank = make_bank(partitions=1, max_retries=0, park_after_dead_letter=False)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        for account, amount, seq in [("good", 1, 1), ("bad", -1, 1), ("bad", -2, 2), ("worse", -3, 1)]:
            bank.process(deposit(account_id=account, amount=amount, seq=seq))
    assert run_server(bank, test_mode=True) == 0
    return bank


@pytest.fixture
def client(bank):
    app = create_app([bank], interval=0.05, max_stream_seconds=2)
    with TestClient(app, base_url=LOCAL, client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def token(client: TestClient) -> str:
    return client.get("/api/session").json()["csrf_token"]


def letters_url(bank) -> str:
    return f"/api/domains/{bank.name}/dead-letters"


def test_list_filter_and_group_dead_letters(client, bank):
    body = client.get(letters_url(bank)).json()
    assert body["total"] == 3
    assert {x["stream"].rsplit("-", 1)[-1] for x in body["dead_letters"]} == {"bad", "worse"}
    assert all("poison deposit" in x["error_summary"] for x in body["dead_letters"])
    # each error line is its own group (different seq/account in the message)
    assert sum(g["count"] for g in body["groups"]) == 3
    group = body["groups"][0]["group"]
    only = client.get(letters_url(bank), params={"group": group}).json()
    assert only["total"] == body["groups"][0]["count"]
    worse = client.get(letters_url(bank), params={"error": "of worse"}).json()
    assert worse["total"] == 1
    assert client.get(letters_url(bank), params={"type": "nothing-like-it"}).json()["total"] == 0


def test_inspect_shows_payload_and_whole_error(client, bank):
    (first, *_rest) = client.get(letters_url(bank)).json()["dead_letters"]
    full = client.get(f"{letters_url(bank)}/{first['id']}").json()
    assert full["payload"]["data"]["amount"] < 0
    assert "Traceback" in full["error"]  # the whole stored error, for whoever fixes it
    missing = client.get(f"{letters_url(bank)}/no-such-id")
    assert missing.status_code == 404 and "no-such-id" in missing.json()["error"]


def test_replay_one_then_the_server_handles_it(client, bank):
    letter = client.get(letters_url(bank), params={"error": "of worse"}).json()["dead_letters"][0]
    BEHAVIOUR["fixed"] = True
    done = client.post(f"{letters_url(bank)}/{letter['id']}/replay", headers={"X-CSRF-Token": token(client)})
    assert done.status_code == 200 and done.json()["count"] == 1
    assert client.get(letters_url(bank)).json()["total"] == 2
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, {"good": [1], "worse": [1]}) == []


def test_replay_and_purge_a_group(client, bank):
    headers = {"X-CSRF-Token": token(client)}
    BEHAVIOUR["fixed"] = True
    replayed = client.post(f"{letters_url(bank)}/replay", json={"error": "of bad"}, headers=headers)
    assert replayed.json()["count"] == 2
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, {"good": [1], "bad": [1, 2]}) == []
    purged = client.post(f"{letters_url(bank)}/purge", json={"all": True}, headers=headers)
    assert purged.json()["count"] == 1
    assert dead_letter_store(bank).count() == 0


def test_a_group_action_must_name_its_group(client, bank):
    headers = {"X-CSRF-Token": token(client)}
    assert client.post(f"{letters_url(bank)}/purge", json={}, headers=headers).status_code == 400
    wrong = client.post(f"{letters_url(bank)}/purge", json={"everything": True}, headers=headers)
    assert wrong.status_code == 400 and "everything" in wrong.json()["error"]
    assert client.post(f"{letters_url(bank)}/explode", json={"all": True}, headers=headers).status_code == 404
    assert dead_letter_store(bank).count() == 3


@pytest.mark.parametrize(
    "extra, with_token, why",
    [
        ({}, False, "CSRF token"),
        ({"X-CSRF-Token": "guess"}, False, "CSRF token"),
        ({"Origin": "http://evil.example"}, True, "cross-site"),
        ({"Sec-Fetch-Site": "cross-site"}, True, "cross-site"),
        ({"Host": "evil.example:9000"}, True, "unknown host"),  # DNS rebinding: HostGuard, 400
    ],
)
def test_actions_refuse_cross_site_requests(client, bank, extra, with_token, why):
    headers = {"X-CSRF-Token": token(client), **extra} if with_token else extra
    response = client.post(f"{letters_url(bank)}/purge", json={"all": True}, headers=headers)
    assert response.status_code == (400 if "Host" in extra else 403)
    assert why in response.json()["error"]
    assert dead_letter_store(bank).count() == 3


def test_actions_refuse_other_machines_unless_allowed(bank):
    remote = TestClient(create_app([bank]), base_url=LOCAL, client=("192.0.2.7", 40000))
    assert remote.get("/api/session").status_code == 403
    allowed = TestClient(
        create_app([bank], remote_actions=True, allowed_hosts=["obs.example"]),
        base_url="http://obs.example",
        client=("192.0.2.7", 1),
    )
    session = allowed.get("/api/session").json()
    assert session["remote_actions"] is True
    purged = allowed.post(
        f"{letters_url(bank)}/purge",
        json={"error": "of worse"},
        headers={"X-CSRF-Token": session["csrf_token"], "Origin": "http://obs.example"},
    )
    assert purged.json()["count"] == 1


def test_trace_is_the_causation_tree_with_timings(client, bank):
    event = next(e for e in client.get(f"/api/domains/{bank.name}/events").json()["events"] if e["kind"] == "command")
    trace = client.get(f"/api/trace/{event['correlation_id']}").json()
    assert trace["count"] == 2 and trace["domains"] == [bank.name]
    (root,) = trace["roots"]
    assert root["kind"] == "command" and root["offset_ms"] == 0 and root["after_ms"] is None
    (child,) = root["children"]
    assert child["type"].endswith("Deposited.v1") and child["domain"] == bank.name
    assert child["after_ms"] >= 0 and child["causation_id"] == root["id"]
    assert client.get("/api/trace/unknown-id").json()["count"] == 0


def test_history_samples_throughput_lag_and_dead_letters(client, bank):
    observatory = client.app.state.observatory
    observatory.history.sample()
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        bank.process(deposit(account_id="more", amount=1, seq=1))
    observatory.history.sample()
    points = client.get(f"/api/domains/{bank.name}/history").json()["points"]
    assert len(points) == 2
    assert points[0]["throughput"] == 0 and points[1]["throughput"] > 0
    assert points[1]["dlq"] == 3
    assert points[1]["lag"] + (points[1]["outbox"] or 0) >= 1  # no server runs: the command waits
    assert set(client.get("/api/history").json()["domains"]) == {bank.name}


def test_observatory_serves_metrics(client, bank):
    pytest.importorskip("prometheus_client")
    text = client.get("/metrics").text
    assert f'archipel_dead_letters{{domain="{bank.name}"' in text
