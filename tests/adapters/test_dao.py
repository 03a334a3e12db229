"""Protean's query API beyond ``get``: ``repository._dao`` (custom repositories),
a query's result properties, paging, ``update``/``delete``/``raw``, the element's
default ``limit`` (100, as Protean) and ``exists(Q)`` — on every provider."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel import Domain, Q
from archipel.errors import (
    ConfigurationError,
    IncorrectUsageError,
    NotSupportedError,
    ObjectNotFoundError,
    TooManyObjectsError,
    ValidationError,
)
from archipel.fields import Integer, String
from tests.adapters.conftest import start

PEOPLE = [
    ("John Doe", 38, "CA"),
    ("John Roe", 41, "US"),
    ("Jane Doe", 36, "CA"),
    ("Baby Doe", 3, "CA"),
    ("Boy Doe", 8, "CA"),
    ("Girl Doe", 11, "CA"),
]


def person_domain(make_domain, **options):
    domain = make_domain()

    @domain.aggregate(**options)
    class Person:
        name = String(required=True, max_length=50)
        email = String(max_length=254)
        age = Integer(default=21)
        country = String(max_length=2)

    @domain.repository(part_of=Person)
    class PersonRepository:
        def adults(self):
            return self._dao.query.filter(age__gte=18).all().items

        def find_by_email(self, email):
            return self._dao.find_by(email=email)

        def email_taken(self, person_id, email):
            return self._dao.exists({"id": person_id}, email=email)

    start(domain)
    return domain, Person


@pytest.fixture
def people(make_domain):
    domain, Person = person_domain(make_domain)
    with domain.domain_context():
        repo = domain.repository_for(Person)
        for name, age, country in PEOPLE:
            repo.add(
                Person(name=name, age=age, country=country, email=f"{name.split()[0].lower()}@x")
            )
        yield domain, Person, repo


def names(items):
    return sorted(p.name for p in items)


def test_custom_repository_methods_reach_the_database_through_dao(people):
    domain, Person, repo = people
    assert names(repo.adults()) == ["Jane Doe", "John Doe", "John Roe"]
    assert repo.find_by_email("jane@x").name == "Jane Doe"
    with pytest.raises(ObjectNotFoundError):
        repo.find_by_email("nobody@x")
    with pytest.raises(TooManyObjectsError):
        repo._dao.find_by(country="CA")
    jane = repo.find_by_email("jane@x")
    assert repo.email_taken("someone-else", "jane@x") is True
    # a uniqueness check excludes the record itself
    assert repo.email_taken(jane.id, "jane@x") is False
    assert repo._dao.exists({}, email="nobody@x") is False
    assert repo._dao.get(jane.id).name == "Jane Doe"


def test_exists_takes_a_q_as_protean_does(people):
    _, _, repo = people
    assert repo.exists(Q(age__gt=40)) is True
    assert repo.exists(Q(age__gt=40) & Q(country="CA")) is False


def test_dao_writes_create_save_update_delete(people):
    domain, Person, repo = people
    dao = repo._dao
    created = dao.create(name="New Born", age=0, country="CA")
    assert repo.get(created.id).age == 0
    created.age = 1
    dao.save(created)
    assert repo.get(created.id).age == 1
    dao.update(created, {"age": 2}, country="US")
    stored = repo.get(created.id)
    assert (stored.age, stored.country) == (2, "US")
    with pytest.raises(ObjectNotFoundError):
        dao.update(Person(name="Never Stored"), age=3)
    with pytest.raises(IncorrectUsageError, match="no field"):
        dao.update(stored, shoe_size=44)
    dao.delete(stored)
    assert repo.get_or_none(created.id) is None
    dao.delete_all()
    assert repo.count() == 0


def test_a_query_exposes_its_results_and_pages_as_protean_does(people):
    _, _, repo = people
    query = repo.query.filter(country="CA").order_by("age")
    assert query.total == 5
    assert query.first.name == "Baby Doe"
    assert query.last.name == "John Doe"
    assert len(query.items) == 5
    assert query.has_next is False
    page = repo.query.order_by("age").offset(2).limit(2).all()
    assert [p.name for p in page] == ["Girl Doe", "Jane Doe"]
    assert (page.page, page.page_size, page.total_pages, page.has_next, page.has_prev) == (
        2,
        2,
        3,
        True,
        True,
    )
    as_dict = page.to_dict()
    assert {k: as_dict[k] for k in ("offset", "limit", "total", "page", "total_pages")} == {
        "offset": 2,
        "limit": 2,
        "total": 6,
        "page": 2,
        "total_pages": 3,
    }
    assert as_dict["items"] == page.items
    assert [p.name for p in repo.query.order_by(["country", "-age"]).all()][:2] == [
        "John Doe",
        "Jane Doe",
    ]


def test_update_and_delete_change_what_the_query_returns_all_or_nothing(people):
    _, _, repo = people
    assert repo.query.filter(country="CA", age__lt=18).update(country="XX") == 3
    assert names(repo.query.filter(country="XX")) == ["Baby Doe", "Boy Doe", "Girl Doe"]
    # a value a field cannot hold fails the whole update: nothing changes
    with pytest.raises(ValidationError):
        repo.query.filter(country="XX").update(country="TOO LONG")
    assert repo.query.filter(country="XX").count() == 3
    assert repo.query.filter(country="XX").delete() == 2 + 1
    assert repo.query.filter(country="XX").count() == 0
    assert repo.query.filter(country="nowhere").delete() == 0


def test_a_selection_of_fields_refuses_changes(people):
    _, _, repo = people
    with pytest.raises(NotSupportedError, match="only"):
        repo.query.only("name").update(country="ZZ")
    with pytest.raises(NotSupportedError, match="only"):
        repo.query.only("name").delete()
    assert repo.query.filter(country="ZZ").count() == 0


def test_raw_runs_the_databases_own_query_with_bound_values(people, provider):
    _, Person, repo = people
    table = repo.schema.table
    if provider == "memory":
        found = repo.query.raw('{"name": "John Doe"}')
    else:
        found = repo.query.raw(
            f"SELECT * FROM {table} WHERE name = :name AND age >= :age",  # noqa: S608 - our table
            {"name": "John Doe", "age": 18},
        )
    assert [p.name for p in found] == ["John Doe"]
    assert found.first == repo.find_by(name="John Doe")
    if provider != "memory":
        # the value is bound, never spliced: a quote in it is just a character
        assert not repo.query.raw(
            f"SELECT * FROM {table} WHERE name = :name",  # noqa: S608 - our table
            {"name": "x' OR '1'='1"},
        )
        with pytest.raises(ValidationError, match="placeholder"):
            repo.query.raw(f"SELECT * FROM {table} WHERE name = :name")  # noqa: S608 - our table


def test_queries_return_the_elements_limit_by_default(make_domain):
    domain, Person = person_domain(make_domain)
    small, SmallPerson = person_domain(make_domain, limit=3)
    with domain.domain_context():
        repo = domain.repository_for(Person)
        for i in range(105):
            repo.add(Person(name=f"P{i}", age=i))
        page = repo.query.all()
        assert (len(page), page.total, page.has_next, page.limit) == (100, 105, True, 100)
        assert len(repo.query.limit(None).all()) == 105
        assert len(repo.find(Q(age__gte=0))) == 100
        assert len(repo.all()) == 105
    with small.domain_context():
        repo = small.repository_for(SmallPerson)
        for i in range(5):
            repo.add(SmallPerson(name=f"S{i}", age=i))
        assert len(repo.query.all()) == 3
        assert len(repo.query.limit(4).all()) == 4


def test_a_limit_option_that_is_not_a_number_is_refused(make_domain):
    with pytest.raises(ConfigurationError, match="limit"):
        person_domain(make_domain, limit="ten")
    domain, Person = person_domain(make_domain, limit=-1)
    with domain.domain_context():
        assert domain.repository_for(Person).query.all().limit is None


@pytest.fixture(scope="module")
def memory_people():
    """One in-memory domain for the paging property (the other tests cover every provider)."""
    domain = Domain(
        name="PagingProperty", config={"databases": {"default": {"provider": "memory"}}}
    )
    built = person_domain(lambda: domain)
    yield built
    domain.shutdown()


@settings(max_examples=25, deadline=None)
@given(total=st.integers(0, 30), limit=st.integers(1, 12), offset=st.integers(0, 35))
def test_paging_properties_agree_with_the_rows(memory_people, total, limit, offset):
    domain, Person = memory_people
    with domain.domain_context():
        repo = domain.repository_for(Person)
        repo._dao.delete_all()
        for i in range(total):
            repo.add(Person(name=f"P{i:02}", age=i))
        page = repo.query.order_by("age").offset(offset).limit(limit).all()
        expected = list(range(total))[offset : offset + limit]
        assert [p.age for p in page] == expected
        assert page.total == total
        assert page.has_next == (offset + len(expected) < total)
        assert page.has_prev == (bool(expected) and offset > 0)
        assert page.page == offset // limit + 1
        assert page.total_pages == (0 if total == 0 else -(-total // limit))


def test_get_of_no_identity_finds_nothing_as_in_protean(people):
    _, _, repo = people
    with pytest.raises(ObjectNotFoundError):
        repo.get(None)
    assert repo.get_or_none(None) is None
    with pytest.raises(ValidationError):
        repo.get({"id": "x"})  # a structure is the caller's error, not a missing object
