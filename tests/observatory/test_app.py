"""The observatory app: page, static assets, JSON API, errors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from archipel.observatory import collect
from archipel.observatory.app import create_app
from tests.observatory.conftest import add_items, shop


def test_index_is_the_dashboard_with_safe_headers(client: TestClient):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "archipel observatory" in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_title_names_the_page_as_text(fresh):
    with TestClient(create_app(fresh, title="Shop <ops> & co"), base_url="http://127.0.0.1:9000") as titled:
        page = titled.get("/")
    assert page.status_code == 200
    assert "<title>Shop &lt;ops&gt; &amp; co</title>" in page.text
    assert '<span class="brand-sub">Shop &lt;ops&gt; &amp; co</span>' in page.text
    assert "<ops>" not in page.text  # never markup
    assert "default-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "path, kind", [("/static/app.js", "javascript"), ("/static/style.css", "css"), ("/static/favicon.svg", "svg")]
)
def test_static_assets_are_served(client: TestClient, path: str, kind: str):
    response = client.get(path)
    assert response.status_code == 200
    assert kind in response.headers["content-type"]


def test_health(client: TestClient):
    assert client.get("/api/health").json() == {"status": "ok", "domains": ["ObsShop", "ObsQuiet"]}


def test_domains_summarise_handlers_outbox_and_messages(client: TestClient):
    add_items("kettle", "teapot")
    body = client.get("/api/domains").json()
    assert [d["name"] for d in body["domains"]] == ["ObsShop", "ObsQuiet"]
    shop_summary = body["domains"][0]
    # names may be qualified (module.Class); commands handlers may be listed too
    names = {row["name"].rsplit(".", 1)[-1]: row for row in shop_summary["subscriptions"]}
    assert {"ItemCountProjector", "ItemAudit"} <= set(names)
    assert names["ItemCountProjector"]["kind"] == "projector"
    assert names["ItemCountProjector"]["streams"] == ["obs_shop::item"]
    assert names["ItemCountProjector"]["health"] == "inline"  # sync processing
    assert shop_summary["last_position"] == 4  # two commands, two events
    assert shop_summary["outbox_pending"] == 2  # the events, not relayed by anyone here
    assert shop_summary["elements"]["aggregate"] == 1
    assert shop_summary["processing"] == {"commands": "sync", "events": "sync"}
    quiet = body["domains"][1]
    assert quiet["subscriptions"] == [] and quiet["last_position"] == 0


def test_one_domain_by_name_or_slug(client: TestClient):
    assert client.get("/api/domains/ObsShop").json()["name"] == "ObsShop"
    assert client.get("/api/domains/obs_shop").json()["name"] == "ObsShop"
    assert client.get("/api/domains/obsshop").json()["name"] == "ObsShop"


def test_events_recent_and_after(client: TestClient):
    add_items("a", "b", "c")
    recent = client.get("/api/domains/ObsShop/events?limit=2").json()
    assert [e["position"] for e in recent["events"]] == [5, 6]
    assert recent["last_position"] == 6
    event = recent["events"][-1]
    assert event["type"] == "ObsShop.ItemAdded.v1"
    assert event["kind"] == "event"
    assert event["data"]["name"] == "c"
    assert event["stream"].startswith("obs_shop::item-")
    after = client.get("/api/domains/ObsShop/events?after=3").json()
    assert [e["position"] for e in after["events"]] == [4, 5, 6]
    assert client.get("/api/domains/ObsShop/events?after=6").json()["events"] == []


def test_subscriptions_endpoint(client: TestClient):
    body = client.get("/api/domains/ObsShop/subscriptions").json()
    assert body["source"] in {"engine", "routes"}
    names = {row["name"].rsplit(".", 1)[-1] for row in body["subscriptions"]}
    assert {"ItemCountProjector", "ItemAudit"} <= names


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/domains/Nope", 404),
        ("/api/domains/Nope/events", 404),
        ("/api/domains/ObsShop/events?after=abc", 400),
        ("/api/domains/ObsShop/events?limit=many", 400),
        ("/api/nothing-here", 404),
    ],
)
def test_errors_are_json(client: TestClient, path: str, status: int):
    response = client.get(path)
    assert response.status_code == status
    assert set(response.json()) == {"error"}


def test_adapter_failures_are_json_without_traceback(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    def explode(self: collect.DomainWatch, limit: int) -> list[dict[str, object]]:
        raise RuntimeError("secret connection string postgres://u:pw@db")

    monkeypatch.setattr(collect.DomainWatch, "recent_events", explode)
    response = client.get("/api/domains/ObsShop/events")
    assert response.status_code == 503
    assert response.json() == {"error": "could not read the events of ObsShop (RuntimeError)"}
    assert "Traceback" not in response.text and "secret" not in response.text


def test_unexpected_errors_are_json_500_without_traceback(fresh, monkeypatch: pytest.MonkeyPatch):
    async def broken(self, request):  # noqa: ANN001, ANN202
        raise ValueError("internal detail")

    # routes bind the endpoints when the app is created: patch the class first
    monkeypatch.setattr(type(create_app(fresh).state.observatory), "health", broken)
    with TestClient(create_app(fresh), raise_server_exceptions=False, base_url="http://localhost") as client:
        response = client.get("/api/health")
    assert response.status_code == 500
    assert response.json()["error"].startswith("internal error")
    assert "internal detail" not in response.text and "Traceback" not in response.text


@dataclass
class Row:
    name: str
    kind: str
    streams: list[str]
    lag: int | None
    pending: int | None
    dlq_depth: int | None


def test_engine_status_is_used_when_available(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    rows = [
        Row("ItemCountProjector", "projector", ["obs_shop::item"], 3, 1, 0),
        Row("ItemAudit", "event_handler", ["obs_shop::item"], 0, 0, 2),
    ]

    def engine_function(module: str, name: str):  # noqa: ANN202
        if name == "subscription_status":
            return lambda domain: rows if domain is shop else []
        return None

    monkeypatch.setattr(collect, "_engine_function", engine_function)
    summary = client.get("/api/domains/ObsShop").json()
    assert summary["status_source"] == "engine"
    health = {row["name"]: row["health"] for row in summary["subscriptions"]}
    assert health == {"ItemCountProjector": "behind", "ItemAudit": "failing"}
    assert summary["dlq_depth"] == 2
    assert summary["health"] == {"behind": 1, "failing": 1}


def test_health_words():
    assert collect.health_of({"lag": None, "pending": None, "dlq_depth": None, "active": False}) == "inline"
    assert collect.health_of({"lag": None, "pending": None, "dlq_depth": 0}) == "unknown"
    assert collect.health_of({"lag": 0, "pending": 0, "dlq_depth": 0}) == "ok"
    assert collect.health_of({"lag": 0, "pending": 2, "dlq_depth": 0}) == "behind"
    assert collect.health_of({"lag": 9, "pending": 0, "dlq_depth": 1}) == "failing"


def test_create_app_needs_domains():
    with pytest.raises(ValueError):
        create_app([])
    with pytest.raises(ValueError):
        create_app([shop], interval=0)
