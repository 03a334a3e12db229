"""``Q`` lookups, ordering, paging and totals, identical on every provider; and SQL
injection attempts through every lookup and ordering leave the database intact."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from archipel import BaseAggregate, Q
from archipel.core.queryset import Criteria
from archipel.errors import IncorrectUsageError, NotSupportedError, ValidationError
from archipel.fields import (
    Boolean,
    Date,
    DateTime,
    Decimal,
    Dict,
    Float,
    Identifier,
    Integer,
    List,
    String,
)
from tests.adapters.conftest import SQL_PROVIDERS, start

UTC = dt.UTC

PEOPLE = [
    # key, name, age, city, born, seen, balance, tags, score, vip
    (
        "p1",
        "Alice",
        31,
        "Paris",
        dt.date(1993, 4, 1),
        dt.datetime(2024, 1, 1, 9, tzinfo=UTC),
        "9.50",
        ["admin"],
        1.5,
        True,
    ),
    (
        "p2",
        "bob",
        25,
        "paris",
        dt.date(1999, 12, 31),
        dt.datetime(2024, 1, 2, 9, tzinfo=UTC),
        "10.25",
        [],
        2.0,
        False,
    ),
    ("p3", "Carol", 42, None, dt.date(1982, 6, 15), None, "100", ["ops", "admin"], None, None),
    (
        "p4",
        "Dave",
        None,
        "Berlin",
        None,
        dt.datetime(2023, 12, 31, 23, tzinfo=UTC),
        None,
        ["ops"],
        -3.25,
        True,
    ),
    ("p5", "50%_off\\", 7, "O'Hare", None, None, "-1", ["50%"], 0.0, False),
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
        score = Float()
        vip = Boolean()
        extra = Dict()

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Person)
        for key, name, age, city, born, seen, balance, tags, score, vip in PEOPLE:
            repo.add(
                Person(
                    key=key,
                    name=name,
                    age=age,
                    city=city,
                    born=born,
                    seen=seen,
                    balance=balance,
                    tags=tags,
                    score=score,
                    vip=vip,
                )
            )
        yield repo


def keys(repo, *args, **kwargs) -> list[str]:
    return sorted(p.key for p in repo.query.filter(*args, **kwargs).all())


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"name": "Alice"}, ["p1"]),
        ({"name__exact": "alice"}, []),
        ({"name__iexact": "ALICE"}, ["p1"]),
        ({"city__iexact": "PARIS"}, ["p1", "p2"]),
        ({"name__contains": "o"}, ["p2", "p3", "p5"]),
        ({"name__contains": "O"}, []),
        ({"name__icontains": "O"}, ["p2", "p3", "p5"]),
        ({"name__contains": "%"}, ["p5"]),
        ({"name__contains": "_"}, ["p5"]),
        ({"name__endswith": "\\"}, ["p5"]),
        ({"name__startswith": "50%"}, ["p5"]),
        ({"name__startswith": "Ca"}, ["p3"]),
        ({"name__endswith": "e"}, ["p1", "p4"]),
        ({"city__contains": "'"}, ["p5"]),
        ({"age__gt": 31}, ["p3"]),
        ({"age__gte": 31}, ["p1", "p3"]),
        ({"age__lt": 31}, ["p2", "p5"]),
        ({"age__lte": 31}, ["p1", "p2", "p5"]),
        ({"age__in": [25, 42, 99]}, ["p2", "p3"]),
        ({"age__in": []}, []),
        ({"age__isnull": True}, ["p4"]),
        ({"age__isnull": False}, ["p1", "p2", "p3", "p5"]),
        ({"city": None}, ["p3"]),
        ({"city__in": ["Berlin", None]}, ["p3", "p4"]),
        ({"tags__contains": "admin"}, ["p1", "p3"]),
        ({"tags__contains": "50%"}, ["p5"]),
        ({"tags__contains": "adm"}, []),
        ({"score__lt": 0}, ["p4"]),
        ({"score": 0.0}, ["p5"]),
        ({"vip": True}, ["p1", "p4"]),
        ({"vip": False}, ["p2", "p5"]),
        ({"vip__isnull": True}, ["p3"]),
        ({"age__contains": "5"}, ["p2"]),
        ({"key__in": ["p1", "p5"]}, ["p1", "p5"]),
    ],
)
def test_lookup(people, criteria, expected):
    assert keys(people, **criteria) == expected


def test_missing_values_never_match_comparisons_or_text_lookups(people):
    assert keys(people, city__startswith="") == ["p1", "p2", "p4", "p5"]
    assert keys(people, age__lt=1000) == ["p1", "p2", "p3", "p5"]
    assert keys(people, age__gt=None) == []


def test_negation_of_comparisons_matches_missing_values(people):
    # two-valued logic, as the reference: NOT (NULL > 30) is true
    assert keys(people, ~Q(age__gt=30)) == ["p2", "p4", "p5"]
    assert keys(people, ~Q(city__iexact="paris")) == ["p3", "p4", "p5"]
    assert keys(people, ~Q(tags__contains="ops")) == ["p1", "p2", "p5"]


def test_dates_datetimes_and_decimals_compare_by_value(people):
    assert keys(people, born__lt=dt.date(1990, 1, 1)) == ["p3"]
    assert keys(people, born="1999-12-31") == ["p2"]
    assert keys(people, born__in=[dt.date(1982, 6, 15), dt.date(2000, 1, 1)]) == ["p3"]
    assert keys(people, seen__lt=dt.datetime(2024, 1, 1, tzinfo=UTC)) == ["p4"]
    assert keys(people, seen__gte=dt.datetime(2024, 1, 1, tzinfo=UTC)) == ["p1", "p2"]
    assert keys(people, balance__gt=decimal.Decimal("10")) == ["p2", "p3"]
    assert keys(people, balance__lt="10") == ["p1", "p5"]
    assert keys(people, balance=decimal.Decimal("9.5")) == ["p1"]
    assert keys(people, balance__in=["100", "10.25"]) == ["p2", "p3"]


def test_and_or_not(people):
    assert keys(people, Q(city__iexact="paris") & Q(age__gt=30)) == ["p1"]
    assert keys(people, Q(age__gt=40) | Q(name="bob")) == ["p2", "p3"]
    assert keys(people, ~(Q(age__gt=40) | Q(name="bob"))) == ["p1", "p4", "p5"]
    assert keys(people, (Q(age__lt=30) | Q(age__gt=40)) & ~Q(name__startswith="C")) == ["p2", "p5"]
    assert keys(people, Q(city="Paris", age=31)) == ["p1"]
    assert keys(people, Q()) == ["p1", "p2", "p3", "p4", "p5"]
    assert keys(people, Q() & Q(name="bob")) == ["p2"]


def test_unknown_fields_and_lookups_are_errors_not_empty_results(people):
    # (the plain-record reference, ``evaluate``, reads them as missing; an element has
    # declared fields, so an unknown name is a mistake to report, on every adapter)
    with pytest.raises(NotSupportedError, match="'between'"):
        keys(people, age__between=[1, 2])
    with pytest.raises(IncorrectUsageError, match="no field 'nothing'"):
        keys(people, nothing__isnull=True)
    with pytest.raises(IncorrectUsageError, match="no field 'nothing' to sort by"):
        people.query.order_by("-nothing")


def order(repo, *fields) -> list[str]:
    return [p.key for p in repo.query.order_by(*fields).all()]


def test_ordering_puts_missing_values_last_ascending_and_first_descending(people):
    """Protean 0.18's order (its memory adapter, PostgreSQL's default) on every database."""
    assert order(people, "age") == ["p5", "p2", "p1", "p3", "p4"]
    assert order(people, "-age") == ["p4", "p3", "p1", "p2", "p5"]
    assert order(people, "city", "-key") == ["p4", "p5", "p1", "p2", "p3"]
    assert order(people, "balance") == ["p5", "p1", "p2", "p3", "p4"]
    assert order(people, "-born") == ["p4", "p5", "p2", "p1", "p3"]


def test_paging_and_totals(people):
    page = people.query.order_by("key").limit(2).offset(1).all()
    assert [p.key for p in page] == ["p2", "p3"]
    assert page.total == 5 and page.has_next and page.has_prev
    last = people.query.order_by("key").limit(2).offset(4).all()
    assert [p.key for p in last] == ["p5"] and not last.has_next
    beyond = people.query.filter(age__gt=0).order_by("key").limit(2).offset(10).all()
    assert beyond.items == [] and beyond.total == 4
    assert people.query.filter(city__iexact="paris").count() == 2
    assert people.count() == 5
    assert people.query.filter(name="bob").first.key == "p2"


INJECTIONS = [
    "x'; DROP TABLE {table}; --",
    "' OR '1'='1",
    '" OR 1=1 --',
    "%' OR 1=1 --",
    "x\\'; DELETE FROM {table}; --",
    "1); DROP TABLE {table}; --",
    "'||(SELECT '1')||'",
    "%(key)s :key ? $1 {0}",
]
LOOKUPS = [
    "exact",
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "endswith",
    "gt",
    "gte",
    "lt",
    "lte",
]


def test_injection_strings_are_only_ever_values(people):
    table = people.schema.table
    database = people.domain.providers.database()
    for template in INJECTIONS:
        text = template.replace("{table}", table)
        for field in ("name", "city", "key", "tags", "extra"):
            for lookup in LOOKUPS:
                if field in ("tags", "extra") and not (field, lookup) == ("tags", "contains"):
                    # text is no list or dict: the same ValidationError on every store
                    if lookup != "isnull":
                        with pytest.raises(ValidationError):
                            people.query.filter(**{f"{field}__{lookup}": text}).all()
                    continue
                found = people.query.filter(**{f"{field}__{lookup}": text}).all()
                assert all(p.key in {"p1", "p2", "p3", "p4", "p5"} for p in found)
                if lookup in ("exact", "iexact", "contains", "startswith", "endswith"):
                    assert found.total == 0, (field, lookup, text)
            if field in ("tags", "extra"):
                continue
            assert people.query.filter(**{f"{field}__in": [text, "p1"]}).all().total <= 1
            assert people.query.filter(~Q(**{field: text})).count() == 5
    assert people.count() == 5
    assert database.begin().get(people.schema, "p1") is not None
    # and values that look like SQL are stored and read back verbatim
    stored = people.cls(
        key=INJECTIONS[0].replace("{table}", table), name=INJECTIONS[1], city=INJECTIONS[7]
    )
    people.add(stored)
    again = people.get(INJECTIONS[0].replace("{table}", table))
    assert (again.name, again.city) == (INJECTIONS[1], INJECTIONS[7])
    assert keys(people, name=INJECTIONS[1]) == [stored.key]


@pytest.mark.parametrize("provider", SQL_PROVIDERS, indirect=True)
def test_ordering_by_an_unknown_field_is_refused_not_interpolated(people):
    table = people.schema.table
    for name in ["nope", f"key; DROP TABLE {table}", "key DESC, (SELECT 1)", "-name--", "1"]:
        with pytest.raises(IncorrectUsageError, match="no (such )?field"):
            people.query.order_by(name).all()
    tx = people.domain.providers.database().begin()
    with pytest.raises(IncorrectUsageError):
        tx.query(people.schema, Criteria(order_by=("name); DROP TABLE x; --",)))
    assert people.count() == 5
