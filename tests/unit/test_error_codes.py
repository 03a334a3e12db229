"""Diagnostic codes on exceptions (Protean 0.18's ``code``, ``codes``, ``location``, ``rationale``,
``fix``, ``extra_info``), against Protean's: one program, renamed, raises the same codes."""

from __future__ import annotations

import pickle
import sys
import textwrap
import types
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseValueObject, Domain, invariant
from archipel.error_codes import CODES
from archipel.errors import (
    ArchipelError,
    IncorrectUsageError,
    InvalidOperationError,
    NotSupportedError,
    ObjectNotFoundError,
    TransactionError,
    ValidationError,
)
from archipel.fields import Integer

protean = pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")

PROGRAM = """
from PKG import Domain, invariant
from PKG.core.aggregate import BaseAggregate
from PKG.core.entity import BaseEntity
from PKG.core.value_object import BaseValueObject
from PKG.exceptions import ValidationError
from PKG.fields import HasMany, Integer

domain = Domain(name="Bank")

@domain.aggregate
class Account(BaseAggregate):
    balance = Integer(default=0)
    entries = HasMany("Entry")

    @invariant.post(code="BALANCE_NEGATIVE")
    def not_negative(self):
        if self.balance is not None and self.balance < 0:
            raise ValidationError({"balance": ["negative"]})

    @invariant.post
    def not_huge(self):
        if self.balance is not None and self.balance > 100:
            raise ValidationError({"balance": ["huge"]})

    @invariant.post()
    def not_thirteen(self):
        if self.balance == 13:
            raise ValidationError({"balance": ["unlucky"]})

@domain.entity(part_of=Account)
class Entry(BaseEntity):
    amount = Integer(default=0)

    @invariant.post(code="ENTRY_NEGATIVE")
    def positive(self):
        if self.amount is not None and self.amount < 0:
            raise ValidationError({"amount": ["negative"]})

@domain.value_object
class Money(BaseValueObject):
    amount = Integer()

    @invariant.post
    def positive(self):
        if self.amount is not None and self.amount < 0:
            raise ValidationError({"amount": ["negative"]})

@domain.value_object
class Coin(BaseValueObject):
    amount = Integer()

    @invariant.post(code="COIN_NEGATIVE")
    def positive(self):
        if self.amount is not None and self.amount < 0:
            raise ValidationError({"amount": ["negative"]})

class PlainThing:
    pass
"""


def diagnostics(pkg: str) -> list[tuple[str, Any, Any, Any, bool]]:
    """Run misuses of the program under ``pkg``: ``(case, code, codes, location, has rationale)``."""
    module = types.ModuleType("codebank")
    sys.modules["codebank"] = module
    try:
        exec(compile(textwrap.dedent(PROGRAM).replace("PKG", pkg), "codebank.py", "exec"), module.__dict__)  # noqa: S102
        domain = module.domain
        domain.init(traverse=False)
        found = []

        def attempt(case: str, action: Any) -> None:
            with pytest.raises(Exception) as caught:
                action()
            exc = caught.value
            found.append((case, exc.code, list(exc.codes), exc.location, exc.rationale is not None))

        with domain.domain_context():
            account = module.Account(balance=1, entries=[module.Entry(amount=1)])

            def set_balance(value: int) -> Any:
                return lambda: setattr(account, "balance", value)

            attempt("custom code", set_balance(-1))
            attempt("default code", set_balance(101))
            attempt("decorator called with no code", set_balance(13))
            attempt("entity's custom code", lambda: setattr(account.entries[0], "amount", -1))
            attempt("value object's default", lambda: module.Money(amount=-1))
            attempt("value object's custom code", lambda: module.Coin(amount=-1))
            attempt("a name instead of a class", lambda: domain.repository_for("Account"))
            attempt("view_for of an aggregate", lambda: domain.view_for(module.Account))
            attempt("register a plain class", lambda: domain.register(module.PlainThing))
            attempt("an enricher that cannot be called", lambda: domain.register_command_enricher(42))
        return found
    finally:
        del sys.modules["codebank"]


def test_exceptions_carry_protean_s_codes() -> None:
    ours, theirs = diagnostics("archipel"), diagnostics("protean")
    assert ours == theirs
    assert ours[0] == ("custom code", "BALANCE_NEGATIVE", ["BALANCE_NEGATIVE"], "Account", False)
    assert ours[1] == ("default code", "INVARIANT_POST_FAILED", ["INVARIANT_POST_FAILED"], "Account", True)


def test_a_registered_plain_class_is_caught_as_protean_s_error_and_archipel_s() -> None:
    domain = Domain(name="Plain")
    with pytest.raises(NotSupportedError) as caught:
        domain.register(type("PlainThing", (), {}))
    assert isinstance(caught.value, IncorrectUsageError) and caught.value.code == "UNSUPPORTED_ELEMENT_CLASS"


def test_invariants_failing_together_carry_every_code_and_no_single_one() -> None:
    domain = Domain(name="Twice")

    @domain.aggregate
    class Pot(BaseAggregate):
        amount = Integer(default=0)

        @invariant.post(code="TOO_SMALL")
        def small(self) -> None:
            if self.amount is not None and self.amount < 0:
                raise ValidationError({"amount": ["too small"]})

        @invariant.post(code="ODD")
        def even(self) -> None:
            if self.amount is not None and self.amount % 2:
                raise ValidationError({"amount": ["odd"]})

        @invariant.post(code="TOO_SMALL")
        def also_small(self) -> None:
            if self.amount is not None and self.amount < -10:
                raise ValidationError({"amount": ["far too small"]})

    domain.init(traverse=False)
    pot = Pot(amount=2)
    with pytest.raises(ValidationError) as caught:
        pot.amount = -11
    assert (caught.value.codes, caught.value.code) == (["TOO_SMALL", "ODD"], None)
    assert caught.value.messages == {"amount": ["too small", "odd", "far too small"]}


@pytest.mark.parametrize("code", [42, ["A"], b"X"])
def test_an_invariant_code_that_is_not_a_string_is_refused(code: Any) -> None:
    with pytest.raises(IncorrectUsageError, match=r"code=\.\.\.\) takes a string"):
        invariant.post(code=code)(lambda self: None)


def test_an_empty_invariant_code_is_the_stage_s_default() -> None:
    domain = Domain(name="Empty")

    @domain.value_object
    class Grams(BaseValueObject):
        amount = Integer()

        @invariant.post(code="")
        def positive(self) -> None:
            if self.amount is not None and self.amount < 0:
                raise ValidationError({"amount": ["negative"]})

    domain.init(traverse=False)
    with pytest.raises(ValidationError) as caught:
        Grams(amount=-1)
    assert caught.value.code == "VALUE_OBJECT_INVARIANT_FAILED" and caught.value.location == Grams.__qualname__


codes_strategy = st.lists(st.sampled_from(["A", "B", "INVARIANT_PRE_FAILED", "C"]), max_size=6)


@given(codes=codes_strategy)
def test_codes_are_distinct_in_order_and_code_is_the_single_one(codes: list[str]) -> None:
    exc = ObjectNotFoundError("missing", codes=codes, location="Shop")
    assert exc.codes == list(dict.fromkeys(codes))
    assert exc.code == (exc.codes[0] if len(exc.codes) == 1 else None)
    known = exc.code in CODES
    assert (exc.rationale is not None, exc.fix is not None) == (known, known)
    assert str(exc) == "missing" and exc.location == "Shop"


@given(codes=codes_strategy, extra=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers())))
def test_diagnostics_survive_pickling(codes: list[str], extra: Any) -> None:
    for exc in (
        ValidationError({"x": ["bad"]}, codes=codes, location="Order", extra_info=extra),
        InvalidOperationError("not now", codes=codes),
        TransactionError("failed", extra_info=extra, codes=codes),
    ):
        back = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own exception
        assert type(back) is type(exc) and str(back) == str(exc)
        assert (back.codes, back.code, back.location, back.extra_info) == (
            exc.codes, exc.code, exc.location, exc.extra_info,
        )


def test_codes_wins_over_code_and_a_lone_string_is_one_code() -> None:
    assert ArchipelError("x", code="A", codes=["B"]).codes == ["B"]
    assert ArchipelError("x", codes="ABC").codes == ["ABC"]
    assert ArchipelError("x").codes == [] and ArchipelError("x").rationale is None


def test_an_unknown_keyword_is_a_type_error_not_silently_kept() -> None:
    with pytest.raises(TypeError):
        ValidationError({"x": ["bad"]}, cod="A")  # type: ignore[call-arg]


def test_every_protean_runtime_code_is_known() -> None:
    from protean.ir.diagnostics import REGISTRY

    assert {str(c) for c, meta in REGISTRY.items() if meta.kind != "lint"} == set(CODES)
