"""A small domain for the engine's tests: accounts, deposits, a ledger projection.

Every ``Deposit`` command carries ``seq`` (1, 2, ... per account). The
command handler raises ``Deposited``; ``LedgerProjector`` appends each seq
to the account's ``Ledger`` row, so the invariant checker can prove that
nothing was lost (every seq arrived), nothing was applied twice (no seq
repeats) and per-aggregate order held (the seqs are sorted).

Behaviour switches (``BEHAVIOUR``, or environment variables in worker
processes): ``poison`` — deposits with a negative amount make the projector
raise until ``ARCHIPEL_TEST_FIX_FILE`` exists — an ``InvalidOperation`` (a business
error: dead-lettered at once), or with ``transient`` (``ARCHIPEL_TEST_TRANSIENT``) a ``TimeoutError``
(retried with backoff first); ``delay`` — seconds the
projector sleeps per event (to kill or pause a worker mid-batch); ``kill`` —
a deposit of amount 666 kills its worker: raises :class:`WorkerKilled` (a
``BaseException``, nothing in the engine catches it) in unit tests, and
SIGKILLs the process when ``ARCHIPEL_TEST_KILL`` is set.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from archipel import Domain, current_domain, handle
from archipel.errors import InvalidOperation
from archipel.fields import Identifier, Integer, List, String

BEHAVIOUR: dict[str, Any] = {"fixed": False, "delay": 0.0, "failures": {}, "transient": False}
KILLER = 666


class WorkerKilled(BaseException):
    """Stands for a worker process dying (os._exit, SIGKILL) in unit tests."""


def _fixed() -> bool:
    if BEHAVIOUR["fixed"]:
        return True
    marker = os.environ.get("ARCHIPEL_TEST_FIX_FILE")
    return bool(marker) and os.path.exists(marker)


def _delay() -> float:
    return float(os.environ.get("ARCHIPEL_TEST_DELAY", BEHAVIOUR["delay"]) or 0)


def build_bank(name: str, config: dict[str, Any]) -> Domain:
    """A bank domain called ``name`` (call ``init(traverse=False)`` on it)."""
    bank = Domain(name=name, config=config)

    @bank.aggregate
    class Account:
        account_id = Identifier(identifier=True)
        balance = Integer(default=0)
        deposits = Integer(default=0)

        def deposit(self, amount: int, seq: int, lane: str) -> None:
            self.balance += amount
            self.deposits += 1
            self.raise_(Deposited(account_id=self.account_id, amount=amount, seq=seq, lane=lane))

    @bank.event(part_of=Account)
    class Deposited:
        account_id = Identifier(required=True)
        amount = Integer(required=True)
        seq = Integer(required=True)
        lane = String(default="production")

    @bank.command(part_of=Account)
    class Deposit:
        account_id = Identifier(required=True)
        amount = Integer(required=True)
        seq = Integer(required=True)
        lane = String(default="production")

    @bank.command_handler(part_of=Account)
    class AccountCommands:
        @handle(Deposit)
        def deposit(self, command: Any) -> None:
            repo = current_domain.repository_for(Account)
            account = repo.get_or_none(command.account_id) or Account(account_id=command.account_id)
            account.deposit(command.amount, command.seq, command.lane)
            repo.add(account)

    @bank.projection
    class Ledger:
        account_id = Identifier(identifier=True)
        seqs = List(content_type=Integer)
        total = Integer(default=0)

    @bank.projector(projector_for=Ledger, aggregates=[Account])
    class LedgerProjector:
        @handle(Deposited)
        def on_deposited(self, event: Any) -> None:
            if event.amount == KILLER:
                if os.environ.get("ARCHIPEL_TEST_KILL"):
                    os.kill(os.getpid(), signal.SIGKILL)
                raise WorkerKilled(f"deposit {event.seq} of {event.account_id} killed its worker")
            if event.amount < 0 and not _fixed():
                failures = BEHAVIOUR["failures"]
                failures[event.seq] = failures.get(event.seq, 0) + 1
                if BEHAVIOUR["transient"] or os.environ.get("ARCHIPEL_TEST_TRANSIENT"):
                    raise TimeoutError(f"poison deposit {event.seq} of {event.account_id}")
                raise InvalidOperation(f"poison deposit {event.seq} of {event.account_id}")
            delay = _delay()
            if delay:
                time.sleep(delay)
            repo = current_domain.repository_for(Ledger)
            ledger = repo.get_or_none(event.account_id) or Ledger(account_id=event.account_id)
            ledger.seqs = [*ledger.seqs, event.seq]
            ledger.total = ledger.total + event.amount
            repo.add(ledger)

    bank.elements = {  # type: ignore[attr-defined]
        "Account": Account,
        "Deposited": Deposited,
        "Deposit": Deposit,
        "Ledger": Ledger,
        "LedgerProjector": LedgerProjector,
    }
    return bank


def check_ledgers(bank: Domain, expected: dict[str, list[int]]) -> list[str]:
    """Problems found: lost, doubled or reordered deposits (empty when all is well)."""
    ledger_cls = bank.elements["Ledger"]  # type: ignore[attr-defined]
    problems = []
    with bank.domain_context():
        repo = bank.repository_for(ledger_cls)
        for account_id, seqs in expected.items():
            ledger = repo.get_or_none(account_id)
            got = list(ledger.seqs) if ledger is not None else []
            if len(got) != len(set(got)):
                problems.append(f"{account_id}: applied twice: {sorted(s for s in got if got.count(s) > 1)}")
            missing = sorted(set(seqs) - set(got))
            if missing:
                problems.append(f"{account_id}: lost {missing[:10]}{'...' if len(missing) > 10 else ''}")
            broken = order_break(got)
            if broken:
                problems.append(f"{account_id}: out of order {broken}")
    return problems


def order_break(seqs: list[int], around: int = 4) -> str:
    """Where ``seqs`` first stops rising: ``"at position 47 of 120: ... 46, 47, [52], 48, 49 ..."``.

    Empty when ``seqs`` is strictly rising. The bracketed value is the first one
    followed by a smaller (or equal) one; ``around`` values either side are shown.
    """
    for i in range(len(seqs) - 1):
        if seqs[i] >= seqs[i + 1]:
            lo, hi = max(0, i - around), min(len(seqs), i + around + 2)
            shown = [f"[{v}]" if k == i else str(v) for k, v in enumerate(seqs[lo:hi], start=lo)]
            head = "... " if lo else ""
            tail = " ..." if hi < len(seqs) else ""
            later = sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if a >= b)
            return (f"at position {i} of {len(seqs)} ({later} descent(s)): "
                    f"{head}{', '.join(shown)}{tail}")
    return ""
