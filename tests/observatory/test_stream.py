"""The live stream (Server-Sent Events): first message, new events, bounds."""

from __future__ import annotations

import json
from collections.abc import Iterator

from starlette.testclient import TestClient

from tests.observatory.conftest import add_items


def sse_messages(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    """``(event, data)`` pairs from an SSE line iterator."""
    event, data = None, []
    for line in lines:
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: "):
            data.append(line[len("data: "):])
        elif line == "" and event is not None:
            yield event, json.loads("\n".join(data))
            event, data = None, []


def test_first_chunk_is_hello_with_summaries_and_recent_events(client: TestClient):
    add_items("kettle")
    with client.stream("GET", "/stream?ticks=0") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        lines = list(response.iter_lines())
    assert lines[0] == "event: hello" and "retry: 3000" in lines  # the browser reconnects after 3 s
    ((event, hello),) = list(sse_messages(iter(lines)))
    assert event == "hello"
    shop_hello = hello["domains"][0]
    assert shop_hello["name"] == "ObsShop"
    assert [e["type"] for e in shop_hello["events"]] == ["ObsShop.AddItem.v1", "ObsShop.ItemAdded.v1"]
    names = {row["name"].rsplit(".", 1)[-1] for row in shop_hello["subscriptions"]}
    assert {"ItemCountProjector", "ItemAudit"} <= names


def test_new_events_are_pushed_then_status(client: TestClient):
    seen: list[str] = []
    pushed: list[dict] = []
    with client.stream("GET", "/stream?ticks=60") as response:
        for event, data in sse_messages(response.iter_lines()):
            seen.append(event)
            if event == "hello":
                add_items("teapot")
            if event == "events":
                pushed.extend(data["events"])
                assert data["domain"] == "ObsShop"
                break
    assert seen[0] == "hello"
    assert [e["type"] for e in pushed] == ["ObsShop.AddItem.v1", "ObsShop.ItemAdded.v1"]
    assert pushed[1]["data"]["name"] == "teapot"


def test_stream_is_bounded(client: TestClient):
    with client.stream("GET", "/stream?ticks=2") as response:
        events = [event for event, _data in sse_messages(response.iter_lines())]
    assert events == ["hello", "status", "status"]


def test_stream_ticks_are_capped_by_the_server(client: TestClient):
    # max_stream_seconds=5 at interval 0.05: at most 100 ticks whatever is asked
    observatory = client.app.state.observatory  # type: ignore[attr-defined]
    assert observatory.max_ticks == 100
