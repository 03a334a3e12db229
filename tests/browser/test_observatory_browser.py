"""The observatory in a real headless Chromium: views, charts, dead-letter actions,
traces, keyboard navigation and a phone-width layout. Screenshots go to docs/img/ with ARCHIPEL_SCREENSHOTS=docs."""

from __future__ import annotations

import pytest

from archipel.engine import run_server
from archipel.engine.dlq import dead_letter_store
from tests.browser.conftest import shot
from tests.engine.bank import BEHAVIOUR, check_ledgers

expect = pytest.importorskip("playwright.sync_api").expect


def test_all_domains_and_domain_views_with_charts(observed, page):
    bank, url, _ = observed
    page.goto(url + "/")
    card = page.locator(".domain-card", has_text=bank.name)
    card.wait_for()
    assert page.locator("#connection.live").count() == 1 or page.wait_for_selector("#connection.live")
    assert page.locator("#all-charts figure").count() == 4
    assert page.locator("#all-charts path.line").count() >= 3  # history drawn, not "no data yet"
    shot(page, "observatory-all-domains")
    card.click()
    page.wait_for_selector("#view-domain:not([hidden])")
    assert page.locator("#domain-name").inner_text() == bank.name
    assert page.locator("#subs-body tr", has_text="LedgerProjector").count() == 1
    assert page.locator("#tile-dlq").inner_text() == "3"
    assert page.locator("#domain-charts figure").count() == 4
    page.wait_for_selector("#event-list li")
    shot(page, "observatory-domain")
    assert page.errors == []


def test_dead_letters_inspect_replay_one_and_purge_a_group(observed, page):
    bank, url, _ = observed
    page.goto(f"{url}/#/dlq/{bank.name}")
    page.wait_for_selector("#dlq-body tr >> text=Inspect")
    assert page.locator("#dlq-body tr").count() == 3
    assert page.locator("#dlq-groups li").count() == 3
    # filter by error text
    page.fill("#f-error", "of carol")
    page.click("#dlq-filters button[type=submit]")
    expect(page.locator("#dlq-body tr")).to_have_count(1)
    page.click("#dlq-body >> text=Inspect")
    page.wait_for_selector("#dlq-detail:not([hidden])")
    assert '"amount": -3' in page.locator("#detail-payload").inner_text()
    assert "poison deposit 1 of carol" in page.locator("#detail-error").inner_text()
    shot(page, "observatory-dead-letter")
    # fix the bug, replay that one
    BEHAVIOUR["fixed"] = True
    page.click("#dlq-body >> text=Replay")
    page.wait_for_selector("#dlq-message:not([hidden])")
    assert "Replayed" in page.locator("#dlq-message").inner_text()
    assert dead_letter_store(bank).count() == 2
    assert run_server(bank, test_mode=True) == 0
    assert check_ledgers(bank, {"carol": [1]}) == []
    # the rest: purge a group (after confirming)
    page.click("#f-clear")
    expect(page.locator("#dlq-body tr")).to_have_count(2)
    shot(page, "observatory-dead-letters")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#dlq-groups li").first.locator("text=Purge group").click()
    expect(page.locator("#dlq-body tr")).to_have_count(1)
    assert dead_letter_store(bank).count() == 1
    assert page.errors == []


def test_trace_view_shows_the_causation_tree(observed, page):
    bank, url, _ = observed
    with bank.domain_context():
        command = next(m for m in bank.event_store.read_all(after_global=0, limit=10) if m["metadata"].get("kind") in ("COMMAND", "command"))
    correlation = command["metadata"]["correlation_id"]
    page.goto(f"{url}/#/trace")
    page.fill("#trace-id", correlation)
    page.keyboard.press("Enter")
    page.wait_for_selector("#trace-tree .node")
    assert page.locator("#trace-tree > li > .node").count() == 1  # the command
    assert page.locator("#trace-tree ul .node", has_text="Deposited").count() == 1  # its event, nested
    assert "after its cause" in page.locator("#trace-tree ul .timing").inner_text()
    assert "2 message(s)" in page.locator("#trace-summary").inner_text()
    shot(page, "observatory-trace")
    assert page.errors == []


def test_keyboard_reaches_every_view(observed, page):
    bank, url, _ = observed
    page.goto(url + "/")
    page.wait_for_selector(".domain-card")
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.textContent.trim()"))
        if seen[-1] == "Dead letters":
            break
    assert seen[0] == "Skip to content"
    assert seen[-1] == "Dead letters"
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-dlq:not([hidden])")
    page.wait_for_selector("#dlq-body tr >> text=Inspect")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "f-error"


def test_readable_at_phone_width(observed, browser):
    bank, url, _ = observed
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    try:
        for path, ready, name in [
            (f"/#/d/{bank.name}", "#subs-body tr", "observatory-phone-domain"),
            (f"/#/dlq/{bank.name}", "#dlq-body tr >> text=Inspect", "observatory-phone-dead-letters"),
        ]:
            page.goto(url + path)
            page.wait_for_selector(ready)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
            shot(page, name)
    finally:
        context.close()
