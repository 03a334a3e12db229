"""Protean's security channel: ``invariant_failed``, ``invalid_operation``, ``invalid_state``
and ``validation_failed`` WARNINGs on ``archipel.security``, against Protean 0.18's.

One program, renamed (the porting rule), runs under ``protean`` and under ``archipel``; the
two channels (``protean.security``, ``archipel.security``) must carry the same events with
the same fields. Then archipel's own guarantees: nothing is written outside a handler, the
ids are those of the message being handled, the detail is cut at 256 characters.
"""

from __future__ import annotations

import logging
import sys
import textwrap
import types
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archipel
from archipel import BaseAggregate, BaseCommand, BaseCommandHandler, Domain, handle, invariant
from archipel.errors import InvalidOperationError, InvalidStateError, ValidationError
from archipel.fields import Identifier, Integer

protean = pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")

PROGRAM = """
from PKG import Domain, handle, invariant
from PKG.core.aggregate import BaseAggregate
from PKG.core.command import BaseCommand
from PKG.core.command_handler import BaseCommandHandler
from PKG.exceptions import InvalidOperationError, InvalidStateError, ValidationError
from PKG.core.entity import BaseEntity
from PKG.fields import HasMany, Identifier, Integer
from PKG.utils.globals import current_domain

domain = Domain(name="Bank", config={"event_processing": "sync", "command_processing": "sync"})

@domain.aggregate
class Account(BaseAggregate):
    account_id = Identifier(identifier=True)
    balance = Integer(default=0)
    entries = HasMany("Entry")

    @invariant.post
    def balance_is_not_negative(self):
        if self.balance is not None and self.balance < 0:
            raise ValidationError({"balance": ["must not be negative"]})

    @invariant.post
    def balance_is_not_huge(self):
        if self.balance is not None and self.balance > 1000:
            raise ValidationError({"balance": ["is too large"]})

@domain.entity(part_of=Account)
class Entry(BaseEntity):
    amount = Integer(default=0)

    @invariant.post
    def amount_is_positive(self):
        if self.amount is not None and self.amount < 0:
            raise ValidationError({"amount": ["must be positive"]})

@domain.command(part_of=Account)
class Book(BaseCommand):
    account_id = Identifier(identifier=True)

@domain.command(part_of=Account)
class Move(BaseCommand):
    account_id = Identifier(identifier=True)
    amount = Integer()

@domain.command(part_of=Account)
class Close(BaseCommand):
    account_id = Identifier(identifier=True)

@domain.command(part_of=Account)
class Reopen(BaseCommand):
    account_id = Identifier(identifier=True)

@domain.command_handler(part_of=Account)
class Accounts(BaseCommandHandler):
    @handle(Move)
    def move(self, command):
        account = Account(account_id=command.account_id, balance=10)
        account.balance = account.balance + command.amount
        current_domain.repository_for(Account).add(account)

    @handle(Book)
    def book(self, command):
        account = Account(account_id=command.account_id, entries=[Entry(id="e1", amount=1)])
        account.entries[0].amount = -5

    @handle(Close)
    def close(self, command):
        raise InvalidOperationError("account " + command.account_id + " is frozen")

    @handle(Reopen)
    def reopen(self, command):
        raise InvalidStateError("account " + command.account_id + " was never closed")
"""

FIELDS = (
    "aggregate", "aggregate_id", "invariant", "stage", "detail", "command_type", "handler", "error",
    "entity", "entity_id",
)


class Keep(logging.Handler):
    """Keeps every record it is given, in ``records``."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def security_events(pkg: str) -> list[tuple[str, dict[str, Any]]]:
    """Run the program under ``pkg``; the events of ``<pkg>.security``, fields by name."""
    module = types.ModuleType("secbank")
    sys.modules["secbank"] = module
    channel = logging.getLogger(f"{pkg}.security")
    keep = Keep()
    records = keep.records
    channel.addHandler(keep)
    try:
        exec(compile(textwrap.dedent(PROGRAM).replace("PKG", pkg), "secbank.py", "exec"), module.__dict__)  # noqa: S102
        domain = module.domain
        domain.init(traverse=False)
        with domain.domain_context():
            for command in (
                module.Move(account_id="a1", amount=5),  # fine: no event
                module.Move(account_id="a2", amount=-20),  # one invariant fails
                module.Close(account_id="a3"),
                module.Reopen(account_id="a4"),
                module.Book(account_id="a5"),  # an entity's invariant fails
            ):
                try:
                    domain.process(command)
                except (module.ValidationError, module.InvalidOperationError, module.InvalidStateError):
                    pass
    finally:
        channel.removeHandler(keep)
        del sys.modules["secbank"]
    return [
        (record.getMessage(), {name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        for record in records
    ]


def test_the_security_channel_carries_protean_s_events() -> None:
    ours = security_events("archipel")
    theirs = security_events("protean")
    assert [name for name, _ in ours] == [
        "invariant_failed", "validation_failed", "invalid_operation", "invalid_state",
        "invariant_failed", "validation_failed",
    ]
    assert ours[:4] == theirs[:4]
    assert ours[0][1] == {
        "aggregate": "Account", "aggregate_id": "a2", "invariant": "balance_is_not_negative", "stage": "post",
    }
    # an entity's invariant: the aggregate named as Protean names it; archipel says which
    # entity and invariant (Protean gives the failed fields as the invariant's name)
    entity_event, theirs_entity_event = dict(ours[4][1]), dict(theirs[4][1])
    assert (entity_event.pop("entity"), entity_event.pop("entity_id")) == ("Entry", "e1")
    assert (entity_event.pop("invariant"), theirs_entity_event.pop("invariant")) == ("amount_is_positive", "amount")
    assert entity_event == theirs_entity_event == {"aggregate": "Account", "aggregate_id": "a5", "stage": "post"}
    assert ours[5] == theirs[5]


# -- archipel's own guarantees ---------------------------------------------------------------


@pytest.fixture
def bank() -> Iterator[types.SimpleNamespace]:
    domain = Domain(name="Vault")

    @domain.aggregate
    class Safe(BaseAggregate):
        safe_id = Identifier(identifier=True)
        gold = Integer(default=0)

        @invariant.post
        def gold_is_not_negative(self) -> None:
            if self.gold is not None and self.gold < 0:
                raise ValidationError({"gold": ["must not be negative"]})

    @domain.command(part_of=Safe)
    class Take(BaseCommand):
        safe_id = Identifier(identifier=True)
        amount = Integer()
        reason = archipel.fields.String(max_length=2000)

    @domain.command_handler(part_of=Safe)
    class Safes(BaseCommandHandler):
        @handle(Take)
        def take(self, command: Any) -> None:
            if command.reason:
                raise InvalidOperationError(command.reason)
            safe = Safe(safe_id=command.safe_id, gold=1)
            safe.gold = safe.gold - command.amount
            domain.repository_for(Safe).add(safe)

    domain.init(traverse=False)
    with domain.domain_context():
        yield types.SimpleNamespace(domain=domain, Safe=Safe, Take=Take)


def channel_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "archipel.security"]


def test_outside_a_handler_nothing_is_written(bank: types.SimpleNamespace, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="archipel.security"):
        safe = bank.Safe(safe_id="s1", gold=1)
        with pytest.raises(ValidationError):
            safe.gold = -1
        with pytest.raises(InvalidOperationError):
            raise InvalidOperationError("in a test, not a handler")
        with pytest.raises(InvalidStateError):
            raise InvalidStateError("nor here")
    assert channel_records(caplog) == []


def test_the_events_carry_the_ids_of_the_command_being_handled(
    bank: types.SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    command = bank.Take(safe_id="s1", amount=3)
    with caplog.at_level(logging.WARNING, logger="archipel.security"), pytest.raises(ValidationError):
        bank.domain.process(command)
    records = channel_records(caplog)
    assert [r.getMessage() for r in records] == ["invariant_failed", "validation_failed"]
    correlation = command._metadata.domain.correlation_id if command._metadata.domain else None
    ids = {(r.correlation_id, r.causation_id) for r in records}  # type: ignore[attr-defined]
    assert len(ids) == 1
    [(correlation_id, _)] = ids
    assert correlation_id and (correlation is None or correlation_id == correlation)
    assert records[1].command_type == "Vault.Take.v1" and records[1].handler == "Safes"  # type: ignore[attr-defined]


def test_a_silenced_channel_builds_nothing(bank: types.SimpleNamespace, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="archipel.security"), pytest.raises(ValidationError):
        bank.domain.process(bank.Take(safe_id="s1", amount=3))
    assert channel_records(caplog) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=600).filter(str.strip))
def test_the_detail_is_the_first_argument_cut_at_256(bank: types.SimpleNamespace, reason: str) -> None:
    channel = logging.getLogger("archipel.security")
    keep = Keep()
    records = keep.records
    channel.addHandler(keep)
    command = bank.Take(safe_id="s1", amount=0, reason=reason)
    try:
        with pytest.raises(InvalidOperationError):
            bank.domain.process(command)
    finally:
        channel.removeHandler(keep)
    [record] = records
    assert record.getMessage() == "invalid_operation"
    assert record.detail == command.reason[:256]  # type: ignore[attr-defined]
