"""A real observatory (uvicorn on loopback) over a bank with dead letters, and a real
headless Chromium (Debian's ``chromium`` package) driven by Playwright.

Without ``/usr/bin/chromium`` (or ``$ARCHIPEL_CHROMIUM``) the browser tests are skipped,
except under CI, where they fail: ``scripts/setup`` installs the package there.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archipel.engine import run_server
from archipel.observatory.app import create_app
from tests.conftest import in_ci
from tests.engine.bank import BEHAVIOUR
from tests.engine.conftest import make_bank  # noqa: F401 - fixture

# Screenshots of the pages the tests drive: into docs/img/ when ARCHIPEL_SCREENSHOTS=docs
# (to refresh the documentation's pictures), else a throwaway folder, so a test run leaves
# the working tree as it found it.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "img"
    if os.environ.get("ARCHIPEL_SCREENSHOTS") == "docs"
    else Path(tempfile.gettempdir()) / "archipel-screenshots"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    wanted = os.environ.get("ARCHIPEL_CHROMIUM") or "/usr/bin/chromium"
    return wanted if Path(wanted).exists() else shutil.which("chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, for one test module: Playwright's sync API runs an event loop in this
    thread while it is open, which later tests calling ``asyncio.run()`` must not see."""
    path = chromium_path()
    if path is None:
        message = "Chromium is missing (apt-get install chromium; scripts/setup does it as root)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def observed(make_bank):  # noqa: F811
    """``(bank, base_url, observatory)``: an observatory served by uvicorn over a bank
    that ran for real: deposits handled, three poison deposits dead-lettered."""
    import uvicorn

    BEHAVIOUR.update(fixed=False, delay=0.0, failures={})
    bank = make_bank(partitions=1, max_retries=0, park_after_dead_letter=False)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        for seq in range(1, 6):
            bank.process(deposit(account_id="alice", amount=seq, seq=seq))
        for account, amount, seq in [("bob", -1, 1), ("bob", -2, 2), ("carol", -3, 1)]:
            bank.process(deposit(account_id=account, amount=amount, seq=seq))
    assert run_server(bank, test_mode=True) == 0
    app = create_app([bank], interval=0.25, history_interval=3600)
    observatory = app.state.observatory
    # an hour of history, compressed: a few samples with traffic in between
    for round_ in range(6):
        with bank.domain_context():
            for n in range(round_ * 2):
                bank.process(deposit(account_id=f"h{round_}", amount=1, seq=n + 1))
        run_server(bank, test_mode=True)
        observatory.history.sample()
        time.sleep(0.05)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the observatory did not start"
    try:
        yield bank, f"http://127.0.0.1:{port}", observatory
    finally:
        server.should_exit = True
        thread.join(10)
        BEHAVIOUR.update(fixed=False, delay=0.0, failures={})


@pytest.fixture
def page(browser):
    """A 1280×800 page that records JavaScript errors in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
