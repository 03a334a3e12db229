"""Field options that touch storage behave the same on every provider."""

from __future__ import annotations

import datetime as dt
import decimal
import enum

from archipel import BaseAggregate
from archipel.fields import Custom, Date, DateTime, Dict, Status, String
from tests.adapters.conftest import start


class Level(enum.Enum):
    LOW = "LOW"
    HIGH = "HIGH"


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = int(cents)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and other.cents == self.cents

    def __hash__(self) -> int:
        return self.cents


def test_integer_identities_auto_stamps_typed_dicts_custom_and_status_round_trip(make_domain):
    domain = make_domain(identity_type="integer")

    @domain.aggregate
    class Account(BaseAggregate):
        name = String()
        limits = Dict(value_type=Date)
        balance = Custom(Money, validators=[Money], serializers=[lambda m: m.cents])
        level = Status(Level, default=Level.LOW, transitions={Level.LOW: [Level.HIGH]})
        opened_at = DateTime(auto_now_add=True)
        touched_at = DateTime(auto_now=True)
        title: str = "basic"
        rate: decimal.Decimal | None = None

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Account)
        account = Account(name="ann", limits={"until": "2030-01-01"}, balance=Money(250), rate="1.25")
        assert isinstance(account.id, int)
        repo.add(account)
        loaded = repo.get(account.id)
        assert loaded.name == "ann" and loaded.title == "basic"
        assert loaded.limits == {"until": dt.date(2030, 1, 1)}
        assert loaded.balance == Money(250)
        assert loaded.rate == decimal.Decimal("1.25")
        assert loaded.level == "LOW" and loaded.opened_at is not None and loaded.touched_at is not None
        loaded.level = Level.HIGH
        repo.add(loaded)
        again = repo.get(account.id)
        assert again.level == "HIGH" and again.opened_at == loaded.opened_at
