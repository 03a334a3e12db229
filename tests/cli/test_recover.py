"""``archipel recover`` after an event-store restore, on memory, SQLite and PostgreSQL.

The restore is simulated as a backup of the event store taken before the last events:
memory empties its store, SQLite and PostgreSQL delete the later rows and (PostgreSQL)
set the position sequence back, as restoring a dump does. The catch-up record of a
late projector, the rebuild record of a projection and a dead letter then name events
the store no longer holds: ``--verify-checkpoints`` reports them (exit 1),
``--reset-beyond-head`` fixes them (exit 0), and the engine goes on with new events.
"""

from __future__ import annotations

import json
import sys
import types
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseCommandHandler,
    BaseEvent,
    BaseEventHandler,
    BaseProjection,
    Domain,
    current_domain,
    handle,
)
from archipel.engine import EngineSettings, run_server
from archipel.engine.dlq import DeadLetterStore
from archipel.engine.subscriptions import active_subscriptions
from archipel.errors import InvalidOperationError
from archipel.fields import Identifier, Integer
from tests.engine.conftest import kind_config

#: the amount the picky handler refuses (a business error: dead-lettered at once)
REFUSED = 13


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
def shop(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    domain = Domain(name=f"Restored{uuid.uuid4().hex[:6]}", config=kind_config(request, tmp_path, request.param))
    seen: dict[str, Counter[str]] = {"early": Counter(), "late": Counter(), "picky": Counter()}

    @domain.aggregate
    class Account(BaseAggregate):
        balance = Integer(default=0)

    @domain.command(part_of=Account)
    class Deposit(BaseCommand):
        account_id = Identifier()
        amount = Integer()

    @domain.event(part_of=Account)
    class Deposited(BaseEvent):
        account_id = Identifier()
        amount = Integer()

    @domain.command_handler(part_of=Account)
    class Accounts(BaseCommandHandler):
        @handle(Deposit)
        def deposit(self, command: Deposit) -> None:
            repo = current_domain.repository_for(Account)
            account = repo.get_or_none(command.account_id) or Account(id=command.account_id)
            account.balance += command.amount
            account.raise_(Deposited(account_id=account.id, amount=command.amount))
            repo.add(account)

    @domain.event_handler(part_of=Account)
    class Early(BaseEventHandler):
        @handle(Deposited)
        def on(self, event: Deposited) -> None:
            seen["early"][event._metadata.id] += 1

    @domain.event_handler(part_of=Account)
    class Picky(BaseEventHandler):
        @handle(Deposited)
        def on(self, event: Deposited) -> None:
            if event.amount == REFUSED:
                raise InvalidOperationError(f"{REFUSED} is refused")
            seen["picky"][event._metadata.id] += 1

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
    domain.seen = seen  # type: ignore[attr-defined]
    domain.classes = {"Account": Account, "Deposit": Deposit, "Deposited": Deposited}  # type: ignore[attr-defined]
    domain.kind = request.param  # type: ignore[attr-defined]
    module = types.ModuleType("restored_shop")
    module.domain = domain  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "restored_shop", module)
    yield domain
    domain.shutdown()


def _deposit(shop: Any, amounts: list[int], account: str = "acc-0") -> None:
    deposit = shop.classes["Deposit"]
    with shop.domain_context():
        for amount in amounts:
            shop.process(deposit(account_id=account, amount=amount))


def _add_late_projector(shop: Any) -> Any:
    """A projector deployed after the broker dropped the first events: it catches up."""
    Account, Deposited = shop.classes["Account"], shop.classes["Deposited"]
    seen = shop.seen

    class Totals(BaseProjection):
        account_id = Identifier(identifier=True)
        total = Integer(default=0)

    class LateProjector:
        @handle(Deposited)
        def on(self, event: Deposited) -> None:
            seen["late"][event._metadata.id] += 1
            repo = current_domain.repository_for(Totals)
            row = repo.get_or_none(event.account_id) or Totals(account_id=event.account_id)
            row.total += event.amount
            repo.add(row)

    settings = EngineSettings.from_config(shop.config)
    for sub in active_subscriptions(shop):
        for stream in sub.broker_streams(settings):
            shop.brokers["default"].trim(stream)
    shop.register(Totals, "projection")
    shop.register(LateProjector, "projector", projector_for=Totals, aggregates=[Account])
    shop.init(traverse=False)
    with shop.domain_context():
        shop.setup_database()
    return Totals


def _restore(shop: Any) -> int:
    """The event store as a backup taken after the second event left it; return its head.

    (The memory store is restored empty: head 0.)"""
    store = shop.providers.event_store
    if shop.kind == "memory":
        store.truncate()
        return 0
    with shop.domain_context():
        events = [m for m in store.read_all(0, 1000) if m["metadata"]["type"].endswith(".Deposited.v1")]
    keep = int(events[1]["metadata"]["global_position"])
    table = store.table.name
    statements = [sa.text(f"DELETE FROM {table} WHERE global_position > {keep}")]  # noqa: S608
    if shop.kind == "postgres":  # a dump restores the sequence with the rows
        statements.append(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'global_position'), {keep})"))
    store.engine.execute_ddl(statements)
    return keep


def _recover(cli: Any, *flags: str) -> tuple[int, dict[str, Any]]:
    outcome = cli("recover", *flags, "--domain", "restored_shop", "--json")
    return outcome.code, json.loads(outcome.out)


def _history(shop: Any) -> Any:
    """Events, a late projector's catch-up, a rebuild and a dead letter; the restore point."""
    _deposit(shop, [1, 2, 3])
    assert run_server(shop, test_mode=True) == 0
    totals = _add_late_projector(shop)
    assert run_server(shop, test_mode=True) == 0
    assert len(shop.seen["late"]) == 3
    _deposit(shop, [4, REFUSED], account="acc-1")
    assert run_server(shop, test_mode=True) == 0
    with shop.domain_context():
        shop.rebuild_projection(totals)
        assert DeadLetterStore(shop).count() == 1
    return totals


def test_a_restore_is_reported_reset_and_the_engine_goes_on(shop: Any, cli: Any) -> None:
    _history(shop)
    code, before = _recover(cli, "--verify-checkpoints")
    assert (code, before["status"]) == (0, "pass"), before
    assert before["data"]["summary"]["beyond_head"] == 0 and "recovery" not in before["data"]

    keep = _restore(shop)
    code, found = _recover(cli, "--verify-checkpoints")
    assert (code, found["status"]) == (1, "fail"), found
    assert set(found) == {"version", "status", "data", "diagnostics"}
    beyond = {s["handler_name"]: s for s in found["data"]["subscriptions"] if s["verdict"] == "beyond_head"}
    assert set(beyond) == {"LateProjector", "Totals"}  # the catch-up and the rebuild records
    assert {s["record"] for s in beyond.values()} == {"catch_up", "projection_rebuild"}
    for row in beyond.values():
        assert int(row["checkpoint_position"]) > int(row["head_position"]) == keep
    summary = found["data"]["summary"]
    assert summary["beyond_head"] == 2 and summary["checked"] == summary["consistent"] + 2
    assert summary["recovery_stale"] == 1 and summary["recovery_stale_positions"] == 1
    [stale] = found["data"]["recovery"]
    assert stale["handler_name"] == "Picky" and stale["verdict"] == "stale"

    code, reset = _recover(cli, "--verify-checkpoints", "--reset-beyond-head")
    assert (code, reset["status"]) == (0, "pass"), reset
    assert {r["handler_name"] for r in reset["data"]["reset"]} == {"LateProjector", "Totals"}
    assert all(r["new_position"] == str(keep) for r in reset["data"]["reset"])
    assert reset["data"]["summary"]["recovery_reset"] == 1
    with shop.domain_context():
        assert DeadLetterStore(shop).count() == 0

    code, after = _recover(cli, "--verify-checkpoints")
    assert (code, after["status"]) == (0, "pass"), after
    assert after["data"]["summary"]["beyond_head"] == 0 and "recovery" not in after["data"]

    # new events after the restore reuse the positions the records named: none is skipped
    handled = {name: set(counter) for name, counter in shop.seen.items()}
    _deposit(shop, [5, 6, 7], account="acc-2")
    assert run_server(shop, test_mode=True) == 0
    for name in ("early", "late", "picky"):
        assert len(set(shop.seen[name]) - handled[name]) == 3, name


def test_verify_only_reads(shop: Any, cli: Any) -> None:
    _history(shop)
    _restore(shop)
    first = _recover(cli, "--verify-checkpoints")
    second = _recover(cli, "--verify-checkpoints")
    assert first == second and first[0] == 1
    with shop.domain_context():
        assert DeadLetterStore(shop).count() == 1


def test_the_text_report_names_what_to_do(shop: Any, cli: Any) -> None:
    _history(shop)
    _restore(shop)
    outcome = cli("recover", "--verify-checkpoints", "--domain", "restored_shop")
    assert outcome.code == 1
    assert "2 of" in outcome.text and "point past the restored head" in outcome.text
    assert "archipel projection rebuild --projection Totals" in outcome.text
    assert "1 dead letter(s) of Picky" in outcome.text
    outcome = cli("recover", "--verify-checkpoints", "--reset-beyond-head", "--domain", "restored_shop")
    assert outcome.code == 0 and "Reset 2 beyond-head checkpoint(s)" in outcome.text
    assert "Purged 1 dead letter(s)" in outcome.text


@pytest.mark.parametrize("shop", ["memory"], indirect=True)
def test_an_unreadable_store_is_unknown_not_consistent(shop: Any, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _history(shop)

    def down(category: str | None = None) -> int:
        raise ConnectionError("event store is down")

    monkeypatch.setattr(shop.providers.event_store, "head", down)
    code, found = _recover(cli, "--verify-checkpoints")
    assert (code, found["status"]) == (0, "pass")  # unknown is no violation (Protean's rule) ...
    summary = found["data"]["summary"]
    assert summary["unknown"] == summary["checked"] > 0 and summary["consistent"] == 0  # ... nor consistent
    text = cli("recover", "--verify-checkpoints", "--domain", "restored_shop").text
    assert "could not be verified" in text and "consistent with the stream head" not in text
