"""``Q`` criteria: ``&``, ``|``, ``~`` and every lookup, through a repository on the
memory adapter (None values, dates, decimals, lists included)."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from archipel import BaseAggregate, Q
from archipel.errors import IncorrectUsageError, NotSupportedError
from archipel.fields import Date, DateTime, Decimal, Identifier, Integer, List, String
from archipel.utils.query import evaluate
from tests.unit._support import start

UTC = dt.UTC

PEOPLE = [
    # key, name, age, city, born, seen, balance, tags
    ("p1", "Alice", 31, "Paris", dt.date(1993, 4, 1), dt.datetime(2024, 1, 1, 9, tzinfo=UTC), "9.50", ["admin"]),
    ("p2", "bob", 25, "paris", dt.date(1999, 12, 31), dt.datetime(2024, 1, 2, 9, tzinfo=UTC), "10.25", []),
    ("p3", "Carol", 42, None, dt.date(1982, 6, 15), None, "100", ["ops", "admin"]),
    ("p4", "Dave", None, "Berlin", None, dt.datetime(2023, 12, 31, 23, tzinfo=UTC), None, ["ops"]),
]


@pytest.fixture
def people(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Person(BaseAggregate):
        key = Identifier(identifier=True)
        name = String()
        age = Integer()
        city = String()
        born = Date()
        seen = DateTime()
        balance = Decimal()
        tags = List(content_type=String)

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Person)
        for key, name, age, city, born, seen, balance, tags in PEOPLE:
            repo.add(
                Person(
                    key=key, name=name, age=age, city=city, born=born, seen=seen,
                    balance=balance, tags=tags,
                )
            )

        def keys(*args: Q, **kwargs: object) -> list[str]:
            return sorted(p.key for p in repo.query.filter(*args, **kwargs).all())

        yield keys


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"name": "Alice"}, ["p1"]),
        ({"name__exact": "alice"}, []),
        ({"name__iexact": "ALICE"}, ["p1"]),
        ({"city__iexact": "PARIS"}, ["p1", "p2"]),
        ({"name__contains": "o"}, ["p2", "p3"]),
        ({"name__contains": "O"}, []),
        ({"name__icontains": "O"}, ["p2", "p3"]),
        ({"name__startswith": "Ca"}, ["p3"]),
        ({"name__endswith": "e"}, ["p1", "p4"]),
        ({"age__gt": 31}, ["p3"]),
        ({"age__gte": 31}, ["p1", "p3"]),
        ({"age__lt": 31}, ["p2"]),
        ({"age__lte": 31}, ["p1", "p2"]),
        ({"age__in": [25, 42, 99]}, ["p2", "p3"]),
        ({"age__isnull": True}, ["p4"]),
        ({"age__isnull": False}, ["p1", "p2", "p3"]),
        ({"city": None}, ["p3"]),
        ({"city__in": ["Berlin", None]}, ["p3", "p4"]),
        ({"tags__contains": "admin"}, ["p1", "p3"]),
    ],
)
def test_lookup(people, criteria, expected):
    assert people(**criteria) == expected


def test_missing_values_never_match_comparisons_or_text_lookups(people):
    assert people(city__startswith="") == ["p1", "p2", "p4"]
    assert people(city__icontains="") == ["p1", "p2", "p4"]
    assert people(age__lt=1000) == ["p1", "p2", "p3"]
    assert people(age__gt=-1) == ["p1", "p2", "p3"]


def test_dates_compare_chronologically(people):
    assert people(born__lt=dt.date(1990, 1, 1)) == ["p3"]
    assert people(born__gte=dt.date(1993, 4, 1)) == ["p1", "p2"]
    assert people(born=dt.date(1999, 12, 31)) == ["p2"]
    assert people(born="1999-12-31") == ["p2"]
    assert people(born__in=[dt.date(1982, 6, 15), dt.date(2000, 1, 1)]) == ["p3"]


def test_datetimes_compare_chronologically(people):
    cutoff = dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert people(seen__lt=cutoff) == ["p4"]
    assert people(seen__gte=cutoff) == ["p1", "p2"]
    assert people(seen__isnull=True) == ["p3"]


def test_decimals_compare_by_value(people):
    assert people(balance__gt=decimal.Decimal("10")) == ["p2", "p3"]
    assert people(balance__lt="10") == ["p1"]
    assert people(balance=decimal.Decimal("9.5")) == ["p1"]
    assert people(balance__in=["100", "10.25"]) == ["p2", "p3"]


def test_decimals_order_by_value(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Price(BaseAggregate):
        amount = Decimal()

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Price)
        for amount in ["9.99", "100", "10.5", "-1"]:
            repo.add(Price(amount=amount))
        ordered = [str(p.amount) for p in repo.query.order_by("amount").all()]
    assert ordered == ["-1", "9.99", "10.5", "100"]


def test_and_or_and_not(people):
    assert people(Q(city__iexact="paris") & Q(age__gt=30)) == ["p1"]
    assert people(Q(age__gt=40) | Q(name="bob")) == ["p2", "p3"]
    assert people(~Q(city__iexact="paris")) == ["p3", "p4"]
    assert people(~(Q(age__gt=40) | Q(name="bob"))) == ["p1", "p4"]
    assert people((Q(age__lt=30) | Q(age__gt=40)) & ~Q(name__startswith="C")) == ["p2"]


def test_keyword_pairs_in_one_q_are_anded(people):
    assert people(Q(city="Paris", age=31)) == ["p1"]
    assert people(Q(city="Paris", age=25)) == []


def test_empty_q_matches_everything_and_is_neutral_in_combinations(people):
    assert people(Q()) == ["p1", "p2", "p3", "p4"]
    assert people(Q() & Q(name="bob")) == ["p2"]
    assert people(Q(name="bob") | Q()) == ["p2"]


def test_unknown_lookups_and_fields_are_errors_never_an_empty_result(people):
    # "age__between" is not a lookup: never read as a (missing) field that matches nothing
    with pytest.raises(NotSupportedError, match="'between'"):
        people(age__between=[1, 2])
    with pytest.raises(IncorrectUsageError, match="no field 'shoe_size'"):
        people(shoe_size=44)
    with pytest.raises(IncorrectUsageError, match="no field 'shoe_size'"):
        people(Q(name="bob") | Q(shoe_size=44))


def test_evaluate_is_the_reference_semantics_on_plain_records():
    record = {"name": "Ann", "age": 3, "tags": ["x"], "gone": None}
    assert evaluate(Q(name="Ann") & Q(age__lte=3), record)
    assert evaluate(Q(tags__contains="x") & Q(gone__isnull=True), record)
    assert not evaluate(~Q(name__iexact="ann"), record)
    assert evaluate(Q(age__in=(1, 2, 3)), record)
