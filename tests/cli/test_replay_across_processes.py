"""``archipel dlq replay`` in its own process: the message reaches the server's consumers, or stays.

The server (``archipel server --test-mode``), the CLI and this test are three
processes on one SQLite file, with the database broker or Redis (reached by
every process) or the inline broker (inside the server's process only: the
replay refuses and keeps the letter). After every step an invariant checker
asserts the message is somewhere: in the dead-letter queue, on the broker
not yet acknowledged by its subscription, or handled.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from archipel.engine.dlq import REPLAY_HEADER, dead_letter_store
from tests.cli.conftest import SAMPLE, cli_env, run_cli

BROKERS = ["database", "redis", "inline"]


@pytest.fixture(params=BROKERS)
def shelf(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    broker = request.param
    if broker == "redis":
        request.applymarker(pytest.mark.redis)
        broker = request.getfixturevalue("redis_flushed_url")
    monkeypatch.syspath_prepend(str(SAMPLE))
    import durable_shelf

    db, fixed = str(tmp_path / "shelf.db"), str(tmp_path / "fixed")
    env = cli_env(DURABLE_SHELF_DB=db, DURABLE_SHELF_BROKER=broker, DURABLE_SHELF_FIXED=fixed)
    domain = durable_shelf.build(db, broker, fixed)
    domain.init()
    yield {"domain": domain, "env": env, "fixed": Path(fixed), "kind": request.param}
    domain.shutdown()
    sys.modules.pop("durable_shelf", None)


def _cli(shelf: dict[str, Any], *args: str) -> Any:
    return run_cli(*args, "--domain", "durable_shelf", env=shelf["env"])


def _deliveries(domain: Any) -> int:
    delivery = domain.elements["Delivery"]
    with domain.domain_context():
        return len(domain.repository_for(delivery).query.all().items)


def _unacknowledged_replays(domain: Any, subscription: str) -> int:
    """Replayed copies on the broker that the subscription has not acknowledged yet."""
    broker = domain.providers.broker("default")
    count = 0
    for stream in broker.streams():
        group = f"invariant-{len(stream)}-{id(broker)}"
        broker.ensure_group(stream, group)
        copies = [
            e
            for e in broker.read(group, "checker", [stream], count=1000)
            if (e.payload.get("metadata") or {}).get("headers", {}).get(REPLAY_HEADER) == subscription
        ]
        if copies and ((broker.lag(stream, subscription) or 0) + broker.pending(stream, subscription)):
            count += len(copies)
    return count


def _where(domain: Any, subscription: str | None) -> set[str]:
    """Where the message is: "dlq", "broker" (a replayed copy not yet handled), "handled"."""
    places = set()
    with domain.domain_context():
        if dead_letter_store(domain).list():
            places.add("dlq")
        if subscription and _unacknowledged_replays(domain, subscription):
            places.add("broker")
    if _deliveries(domain):
        places.add("handled")
    assert places, "the message is nowhere: lost"
    return places


def test_replay_from_the_cli_reaches_the_server_or_keeps_the_letter(shelf: dict[str, Any]) -> None:
    domain = shelf["domain"]
    assert _cli(shelf, "database", "setup").returncode == 0
    with domain.domain_context():
        domain.process(domain.elements["SendParcel"](label="books"))
    served = _cli(shelf, "server", "--test-mode")
    assert served.returncode == 0, served.stderr
    with domain.domain_context():
        (letter,) = dead_letter_store(domain).list()
    assert letter.attempts == 1  # a business error: dead-lettered at once, not retried
    assert _where(domain, letter.subscription) == {"dlq"}
    shown = _cli(shelf, "dlq", "inspect", letter.id)
    assert shown.returncode == 0, shown.stderr
    assert "InvalidOperationError: no courier for parcel books" in shown.stdout
    assert "traceback" in shown.stdout and "Traceback (most recent call last)" in shown.stdout

    replayed = _cli(shelf, "dlq", "replay", "--all")
    if shelf["kind"] == "inline":
        assert replayed.returncode == 1
        assert "not replayed" in replayed.stderr and "the dead letter is kept" in replayed.stderr
        assert _where(domain, letter.subscription) == {"dlq"}
        one = _cli(shelf, "dlq", "replay", letter.id)
        assert one.returncode == 1 and _where(domain, letter.subscription) == {"dlq"}
        return
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 dead letter" in replayed.stdout
    assert _where(domain, letter.subscription) == {"broker"}

    # still failing: it comes back as a new dead letter, not deleted with the old one
    assert _cli(shelf, "server", "--test-mode").returncode == 0
    with domain.domain_context():
        (again,) = dead_letter_store(domain).list()
    assert again.id != letter.id and again.message_id == letter.message_id
    assert _where(domain, letter.subscription) == {"dlq"}

    shelf["fixed"].touch()  # deploy the fix
    assert _cli(shelf, "dlq", "replay", again.id).returncode == 0
    assert _where(domain, letter.subscription) == {"broker"}
    assert _cli(shelf, "server", "--test-mode").returncode == 0
    assert _where(domain, letter.subscription) == {"handled"}
    assert _deliveries(domain) == 1
    assert "No dead letters" in _cli(shelf, "dlq", "list").stdout
