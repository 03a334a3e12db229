"""Protean's ``dlq`` forms: ``--subscription`` as a stream category, ``replay-all``, ``purge -s``.

Real components: the durable shelf on an SQLite file with the database
broker; the server (``archipel server --test-mode``) dead-letters a parcel
no courier can deliver, then each command runs as a user runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from archipel.cli._console import CliError
from archipel.cli.dlq_scope import Scope, resolve_scope
from archipel.engine.dlq import dead_letter_store
from tests.cli.conftest import SAMPLE, cli_env, run_cli


@pytest.fixture
def shelf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(SAMPLE))
    import durable_shelf

    db, fixed = str(tmp_path / "shelf.db"), str(tmp_path / "fixed")
    domain = durable_shelf.build(db, "database", fixed)
    domain.init()
    env = cli_env(DURABLE_SHELF_DB=db, DURABLE_SHELF_BROKER="database", DURABLE_SHELF_FIXED=fixed)
    yield SimpleNamespace(domain=domain, env=env, fixed=Path(fixed))
    domain.shutdown()
    sys.modules.pop("durable_shelf", None)


def _cli(shelf: Any, *args: str) -> Any:
    return run_cli(*args, "--domain", "durable_shelf", env=shelf.env)


def _dead(shelf: Any, *labels: str) -> list[Any]:
    domain = shelf.domain
    assert _cli(shelf, "database", "setup").returncode == 0
    with domain.domain_context():
        for label in labels:
            domain.process(domain.elements["SendParcel"](label=label))
    served = _cli(shelf, "server", "--test-mode")
    assert served.returncode == 0, served.stderr
    with domain.domain_context():
        letters = dead_letter_store(domain).list()
    assert len(letters) == len(labels)
    return letters


def _deliveries(shelf: Any) -> int:
    domain = shelf.domain
    with domain.domain_context():
        return len(domain.repository_for(domain.elements["Delivery"]).query.all().items)


def test_subscription_as_a_stream_category_or_a_class_name(shelf):
    (letter,) = _dead(shelf, "books")
    category = letter.stream.partition("-")[0]  # e.g. cli_durable::parcel
    short = category.partition("::")[2]
    for given in (category, short, letter.subscription, letter.subscription.rsplit(".", 1)[-1]):
        listed = _cli(shelf, "dlq", "list", "--subscription", given, "--wide")
        assert listed.returncode == 0, listed.stderr
        assert letter.id in listed.stdout, given
    wrong = _cli(shelf, "dlq", "list", "--subscription", "parcle")
    assert wrong.returncode == 2
    assert "no subscription or stream category 'parcle'" in wrong.stderr and short in wrong.stderr
    assert _cli(shelf, "dlq", "inspect", letter.id, "--subscription", short).returncode == 0
    elsewhere = _cli(shelf, "dlq", "inspect", letter.id, "--subscription", "delivery")
    assert elsewhere.returncode == 1 and "no dead letter with id" in elsewhere.stderr


def test_replay_all_of_a_category_reaches_the_server(shelf):
    _dead(shelf, "books", "maps")
    shelf.fixed.touch()  # the fix is deployed
    refused = _cli(shelf, "dlq", "replay-all", "--subscription", "parcel")
    assert refused.returncode == 2 and "--yes" in refused.stderr  # no terminal to confirm on
    replayed = _cli(shelf, "dlq", "replay-all", "--subscription", "parcel", "--yes")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 2 dead letters" in replayed.stdout
    assert _cli(shelf, "server", "--test-mode").returncode == 0
    assert _deliveries(shelf) == 2
    with shelf.domain.domain_context():
        assert dead_letter_store(shelf.domain).list() == []


def test_purge_with_a_subscription_and_no_id_purges_all_of_it(shelf):
    (letter,) = _dead(shelf, "books")
    purged = _cli(shelf, "dlq", "purge", "--subscription", letter.subscription.rsplit(".", 1)[-1], "-y")
    assert purged.returncode == 0, purged.stderr
    assert "purged 1 dead letter" in purged.stdout
    with shelf.domain.domain_context():
        assert dead_letter_store(shelf.domain).list() == []


def _letter(subscription: str, stream: str) -> Any:
    return SimpleNamespace(subscription=subscription, stream=stream)


LETTERS = [
    _letter("app.handlers.Mailer", "shop::order-1"),
    _letter("app.handlers.Mailer", "shop::invoice-2"),
    _letter("app.other.Ledger", "shop::order-3"),
    _letter("billing.Ledger", "bill::order-4"),
]


def _resolve(given: str | None) -> Scope:
    return resolve_scope(given, LETTERS, lambda: ["app.handlers.Idle"], lambda: ["shop::refund"])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, Scope()),
        ("app.handlers.Mailer", Scope(subscription="app.handlers.Mailer")),
        ("Mailer", Scope(subscription="app.handlers.Mailer")),
        ("Idle", Scope(subscription="app.handlers.Idle")),  # a subscription with no letters yet
        ("shop::order", Scope(category="shop::order")),
        ("invoice", Scope(category="shop::invoice")),
        ("refund", Scope(category="shop::refund")),  # a category with no letters yet
    ],
)
def test_scope_resolution(given, expected):
    assert _resolve(given) == expected


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("Ledger", "names several subscriptions: app.other.Ledger, billing.Ledger"),
        ("order", "matches several stream categories: bill::order, shop::order"),
        ("nothing", "no subscription or stream category 'nothing'"),
    ],
)
def test_scope_errors_name_the_choices(given, says):
    with pytest.raises(CliError) as caught:
        _resolve(given)
    assert says in str(caught.value) and caught.value.code == 2


def test_scope_admits_exactly_its_letters():
    assert [x.stream for x in LETTERS if Scope(category="shop::order").admits(x)] == [
        "shop::order-1", "shop::order-3",
    ]
    assert sum(Scope(subscription="app.handlers.Mailer").admits(x) for x in LETTERS) == 2
    assert all(Scope().admits(x) for x in LETTERS)
