"""``@invariant.pre`` / ``@invariant.post`` and ``atomic_change``."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, atomic_change, invariant
from archipel.errors import ValidationError
from archipel.fields import Integer, String


class Account(BaseAggregate):
    status = String(default="open")
    balance = Integer(default=0)
    overdraft = Integer(default=0)

    @invariant.pre
    def closed_accounts_do_not_change(self):
        if self.status == "closed":
            raise ValidationError({"status": ["a closed account cannot change"]})

    @invariant.post
    def balance_within_overdraft(self):
        if self.balance < -self.overdraft:
            raise ValidationError({"balance": ["balance below the overdraft limit"]})

    @invariant.post
    def overdraft_not_negative(self):
        if self.overdraft < 0:
            raise ValidationError({"overdraft": ["must not be negative"]})


def test_post_invariants_are_checked_at_creation_and_all_failures_reported():
    with pytest.raises(ValidationError) as info:
        Account(balance=-10, overdraft=-1)
    assert set(info.value.messages) == {"balance", "overdraft"}


def test_post_invariant_failure_on_assignment_keeps_the_old_value():
    account = Account(balance=10)
    with pytest.raises(ValidationError) as info:
        account.balance = -1
    assert info.value.messages == {"balance": ["balance below the overdraft limit"]}
    assert account.balance == 10


def test_pre_invariant_blocks_changes_to_a_closed_account():
    account = Account(balance=10)
    account.status = "closed"
    with pytest.raises(ValidationError) as info:
        account.balance = 20
    assert info.value.messages == {"status": ["a closed account cannot change"]}
    assert account.balance == 10


def test_atomic_change_checks_post_invariants_once_at_the_end():
    account = Account(balance=0)
    with atomic_change(account):
        account.balance = -50  # violates the rule for a moment...
        account.overdraft = 100  # ...and this makes it hold again
    assert (account.balance, account.overdraft) == (-50, 100)


def test_atomic_change_raises_when_the_end_state_breaks_an_invariant():
    account = Account(balance=0)
    with pytest.raises(ValidationError) as info:
        with atomic_change(account):
            account.balance = -50
    assert "balance" in info.value.messages


def test_atomic_change_checks_pre_invariants_on_entry():
    account = Account()
    account.status = "closed"
    with pytest.raises(ValidationError):
        with atomic_change(account):
            pytest.fail("the block must not run on a closed account")


def test_invariants_are_inherited_and_can_be_overridden():
    class Savings(Account):
        @invariant.post
        def balance_within_overdraft(self):
            if self.balance < 0:
                raise ValidationError({"balance": ["savings never go negative"]})

    with pytest.raises(ValidationError) as info:
        Savings(balance=-1, overdraft=10)
    assert info.value.messages == {"balance": ["savings never go negative"]}
    with pytest.raises(ValidationError):
        Savings(overdraft=-1)


def test_loading_from_storage_does_not_run_invariants():
    record = Account(balance=5).to_dict()
    record["balance"] = -100  # stored data is trusted
    assert Account._from_primitive(record).balance == -100
