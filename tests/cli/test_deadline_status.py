"""``archipel subscriptions status`` shows each process manager's deadlines (text and --json)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.cli.conftest import Outcome
from tests.observatory.checkout import populate


@pytest.fixture
def checkout(cli: Callable[..., Outcome]) -> Iterator[tuple[Any, list[str]]]:
    import deadline_shop

    domain = deadline_shop.domain
    with domain.domain_context():
        domain.setup_database()
        domain.truncate_database()
        pending = populate(domain)
    yield domain, pending
    with domain.domain_context():
        domain.truncate_database()


def test_status_lists_deadline_counts_and_when_the_next_is_due(cli: Callable[..., Outcome], checkout: Any) -> None:
    result = cli("subscriptions", "status", "--domain", "deadline_shop")
    assert result.code == 0, result.text
    line = next(line for line in result.text.splitlines() if line.startswith("deadlines of Checkout"))
    assert line.startswith("deadlines of Checkout: 2 pending, next in 1")  # ~1800 s
    assert line.endswith("; 1 fired, 1 cancelled, 1 failed (see their error)")


def test_status_json_carries_the_deadlines(cli: Callable[..., Outcome], checkout: Any) -> None:
    _, pending = checkout
    body = json.loads(cli("subscriptions", "status", "--domain", "deadline_shop", "--json").out)
    (pm,) = body["deadlines"]["process_managers"]
    assert (pm["name"], pm["pending"], pm["fired"], pm["cancelled"], pm["failed"]) == ("Checkout", 2, 1, 1, 1)
    assert [d["correlation"] for d in body["deadlines"]["next"] if d["state"] == "pending"] == pending
