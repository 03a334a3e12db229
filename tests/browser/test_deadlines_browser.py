"""The observatory's deadline panel in a real headless Chromium, served by uvicorn."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archipel.observatory.app import create_app
from tests.browser.conftest import _free_port, shot
from tests.observatory.checkout import build, populate

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, list[str], str]]:
    """``(domain, pending order ids, base url)``: a checkout on SQLite with deadlines in
    every state, and the observatory over it on loopback."""
    import uvicorn

    uri = f"sqlite:///{tmp_path / 'checkout.db'}"
    domain = build(f"Checkout{uuid.uuid4().hex[:4]}", {
        "databases": {"default": {"provider": "sqlite", "database_uri": uri}},
        "event_store": {"provider": "sqlite"},
        "command_processing": "sync",
        "event_processing": "sync",
    })
    with domain.domain_context():
        domain.setup_database()
        pending = populate(domain)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app([domain], interval=0.25), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):  # bounded tries, not a time limit
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the observatory did not start"
    try:
        yield domain, pending, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        domain.shutdown()


def test_the_domain_view_shows_deadline_counts_and_the_next_due(served, page) -> None:
    domain, pending, url = served
    page.goto(f"{url}/#/d/{domain.name}")
    page.wait_for_selector("#deadlines-panel:not([hidden])")
    row = page.locator("#deadlines-body tr", has_text="Checkout")
    expect(row).to_have_count(1)
    cells = row.locator("td").all_inner_texts()
    assert cells[:5] == ["Checkout", "2", "1", "1", "1"]
    assert cells[5].startswith("in ") and cells[5].endswith("m")  # in 29m / 30m
    items = page.locator("#deadlines-next li")
    expect(items).to_have_count(3)
    assert pending[0] in items.nth(0).inner_text() and pending[1] in items.nth(1).inner_text()
    assert "PaymentOverdue" in items.nth(0).inner_text()
    assert "failed after 5 attempt(s): RuntimeError: the mail server is down" in items.nth(2).inner_text()
    assert page.locator("#deadlines-empty").is_hidden()
    page.locator("#deadlines-panel").scroll_into_view_if_needed()
    shot(page, "observatory-deadlines")
    assert page.errors == []
