"""The dashboard's door: foreign Host names get 400 (DNS rebinding), cross-site writes 403."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from archipel.observatory.app import create_app
from archipel.observatory.guard import HostGuard, host_name

PATHS = ["/", "/api/health", "/api/domains", "/api/domains/ObsShop/events", "/static/app.js"]


@pytest.mark.parametrize("path", PATHS)
def test_a_foreign_host_is_refused_everywhere(client: TestClient, path: str) -> None:
    answer = client.get(path, headers={"Host": "evil.example"})
    assert answer.status_code == 400
    assert "unknown host 'evil.example'" in answer.json()["error"]
    assert "evil" not in answer.text.replace("evil.example", "")  # nothing else leaks


@pytest.mark.parametrize("host", ["127.0.0.1:9000", "localhost:9000", "[::1]:9000", "LOCALHOST", "127.0.0.1"])
def test_loopback_names_are_served(client: TestClient, host: str) -> None:
    assert client.get("/api/health", headers={"Host": host}).status_code == 200


def test_configured_names_are_served_and_wildcards_add_nothing(fresh: list) -> None:
    app = create_app(fresh, allowed_hosts=["0.0.0.0", "dash.internal", "192.168.1.4"])
    with TestClient(app, base_url="http://dash.internal:9000") as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/health", headers={"Host": "192.168.1.4:9000"}).status_code == 200
        assert client.get("/api/health", headers={"Host": "0.0.0.0:9000"}).status_code == 400
        assert client.get("/api/health", headers={"Host": "evil.example"}).status_code == 400


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){1,2}(:[0-9]{1,5})?", fullmatch=True))
def test_any_other_name_is_refused(host: str) -> None:
    guarded = HostGuard(Starlette(routes=[Route("/", lambda r: JSONResponse({}))]))
    with TestClient(guarded, base_url="http://127.0.0.1") as client:
        assert client.get("/", headers={"Host": host}).status_code == 400


def _writable() -> TestClient:
    async def act(request: Request) -> JSONResponse:
        return JSONResponse({"done": True})

    app = Starlette(routes=[Route("/api/act", act, methods=["GET", "POST", "DELETE"])])
    return TestClient(HostGuard(app), base_url="http://127.0.0.1:9000")


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_state_changes_must_come_from_the_dashboard(method: str) -> None:
    with _writable() as client:
        same = client.request(method, "/api/act", headers={"Origin": "http://127.0.0.1:9000"})
        assert same.status_code == 200
        assert client.request(method, "/api/act").status_code == 200  # curl: no Origin, not a browser
        for origin in ("http://evil.example", "null", "http://127.0.0.1.evil.example", "file://"):
            refused = client.request(method, "/api/act", headers={"Origin": origin})
            assert refused.status_code == 403, origin
        sneaky = client.request(method, "/api/act", headers={"Sec-Fetch-Site": "cross-site"})
        assert sneaky.status_code == 403
        # reading is not a state change: a link from another site may open the dashboard
        assert client.get("/api/act", headers={"Origin": "http://evil.example"}).status_code == 200


def test_the_observatory_checks_origin_on_writes(client: TestClient) -> None:
    assert client.post("/api/health", headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/api/health", headers={"Origin": "http://127.0.0.1:9000"}).status_code == 405


@pytest.mark.parametrize(
    "value, host",
    [("127.0.0.1:9000", "127.0.0.1"), ("[::1]:80", "::1"), ("::1", "::1"), ("Example.ORG", "example.org"), ("", "")],
)
def test_host_name(value: str, host: str) -> None:
    assert host_name(value) == host
