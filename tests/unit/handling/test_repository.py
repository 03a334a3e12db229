"""Repositories: add/get/get_or_none/find/find_by/exists/query/remove; QuerySet and ResultSet."""

from __future__ import annotations

import datetime as dt

import pytest

from archipel import BaseAggregate, BaseProjection, Q, QuerySet, ResultSet
from archipel.errors import IncorrectUsageError, ObjectNotFound, TooManyObjects
from archipel.fields import Date, Identifier, Integer, String
from tests.unit._support import start

BOOKS = [
    # title, author, year, pages, genre
    ("Dune", "Herbert", 1965, 412, "sf"),
    ("Emma", "Austen", 1815, 474, "novel"),
    ("Ubik", "Dick", 1969, 202, "sf"),
    ("Persuasion", "Austen", 1817, 249, "novel"),
    ("Solaris", "Lem", 1961, 204, "sf"),
    ("Beloved", "Morrison", 1987, 324, None),
]


@pytest.fixture
def library(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Book(BaseAggregate):
        isbn = Identifier(identifier=True)
        title = String(required=True)
        author = String()
        year = Integer()
        pages = Integer()
        genre = String()
        published = Date()

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Book)
        for number, (title, author, year, pages, genre) in enumerate(BOOKS):
            repo.add(
                Book(
                    isbn=f"isbn-{number}",
                    title=title,
                    author=author,
                    year=year,
                    pages=pages,
                    genre=genre,
                    published=dt.date(year, 1 + number, 1),
                )
            )
        yield domain, Book, repo


def titles(result) -> list[str]:
    return [book.title for book in result]


# --- single objects -------------------------------------------------------------------------


def test_get_returns_a_copy_of_the_stored_object(library):
    _, _, repo = library
    book = repo.get("isbn-0")
    assert (book.title, book.year, book.published) == ("Dune", 1965, dt.date(1965, 1, 1))


def test_get_of_a_missing_identity_raises_object_not_found_naming_it(library):
    _, _, repo = library
    with pytest.raises(ObjectNotFound, match="isbn='nope'"):
        repo.get("nope")


def test_get_or_none_and_exists(library):
    _, _, repo = library
    assert repo.get_or_none("nope") is None
    assert repo.get_or_none("isbn-1").title == "Emma"
    assert repo.exists("isbn-1") is True
    assert repo.exists("nope") is False


def test_find_by_returns_the_matching_object_or_raises(library):
    _, _, repo = library
    assert repo.find_by(author="Lem").title == "Solaris"
    assert repo.find_by(author="Austen", year=1817).title == "Persuasion"
    with pytest.raises(ObjectNotFound):
        repo.find_by(author="Tolkien")


def test_find_by_refuses_to_pick_one_of_several_matches(library):
    _, _, repo = library
    with pytest.raises(TooManyObjects, match="Austen"):
        repo.find_by(author="Austen")


def test_find_combines_a_q_with_keyword_criteria(library):
    _, _, repo = library
    found = repo.find(Q(genre="sf") | Q(genre="novel"), author="Austen")
    assert sorted(titles(found)) == ["Emma", "Persuasion"]
    assert isinstance(found, ResultSet)


def test_remove_deletes_the_object(library):
    _, _, repo = library
    repo.remove(repo.get("isbn-0"))
    assert repo.get_or_none("isbn-0") is None
    assert repo.count() == len(BOOKS) - 1


def test_changes_are_saved_by_add(library):
    _, _, repo = library
    book = repo.get("isbn-2")
    book.pages = 230
    repo.add(book)
    assert repo.get("isbn-2").pages == 230


def test_repository_refuses_objects_of_another_class(library):
    domain, _, repo = library
    with pytest.raises(TypeError, match="stores Book"):
        repo.add(object())


def test_query_for_is_read_only_and_only_for_projections(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    @domain.projection
    class Summary(BaseProjection):
        order_id = Identifier(identifier=True)
        name = String()

    start(domain)
    with domain.domain_context():
        domain.repository_for(Summary).add(Summary(order_id="1", name="x"))
        view = domain.query_for(Summary)
        assert view.get("1").name == "x"
        assert view.find(name="x").total == 1
        assert not hasattr(view, "add") and not hasattr(view, "remove")
        with pytest.raises(IncorrectUsageError, match="projection"):
            domain.query_for(Order)


# --- QuerySet -------------------------------------------------------------------------------


def test_queryset_is_lazy_and_every_step_returns_a_new_one(library):
    _, _, repo = library
    base = repo.query
    sf = base.filter(genre="sf")
    assert isinstance(sf, QuerySet) and sf is not base
    assert base.count() == len(BOOKS)
    assert sf.count() == 3


def test_filter_and_exclude_chain(library):
    _, _, repo = library
    result = repo.query.filter(genre="sf").exclude(author="Dick").order_by("title").all()
    assert titles(result) == ["Dune", "Solaris"]


def test_filter_accepts_q_objects_and_keywords(library):
    _, _, repo = library
    result = repo.query.filter(Q(year__lt=1900) | Q(pages__lt=210), author__startswith="A").all()
    assert sorted(titles(result)) == ["Emma", "Persuasion"]


def test_order_by_ascending_descending_and_several_keys(library):
    _, _, repo = library
    assert titles(repo.query.order_by("year").all()) == [
        "Emma", "Persuasion", "Solaris", "Dune", "Ubik", "Beloved",
    ]
    assert titles(repo.query.order_by("-pages").all())[:2] == ["Emma", "Dune"]
    assert titles(repo.query.filter(genre__in=["sf", "novel"]).order_by("genre", "-year").all()) == [
        "Persuasion", "Emma", "Ubik", "Dune", "Solaris",
    ]
    assert titles(repo.query.order_by(["author", "title"]).all())[:2] == ["Emma", "Persuasion"]


def test_order_by_puts_missing_values_last_ascending_and_first_descending(library):
    """Protean 0.18's order (its memory adapter and PostgreSQL's default)."""
    _, _, repo = library
    assert titles(repo.query.order_by("genre").all())[-1] == "Beloved"
    assert titles(repo.query.order_by("-genre").all())[0] == "Beloved"


def test_order_by_dates_is_chronological(library):
    _, _, repo = library
    assert titles(repo.query.order_by("-published").all())[:2] == ["Beloved", "Ubik"]


def test_limit_offset_and_result_set_paging(library):
    _, _, repo = library
    ordered = repo.query.order_by("title")
    page = ordered.limit(2).all()
    assert titles(page) == ["Beloved", "Dune"]
    assert (page.total, page.has_prev, page.has_next) == (6, False, True)
    assert (page.first.title, page.last.title) == ("Beloved", "Dune")
    middle = ordered.offset(2).limit(2).all()
    assert titles(middle) == ["Emma", "Persuasion"]
    assert (middle.has_prev, middle.has_next) == (True, True)
    last = ordered.offset(4).limit(2).all()
    assert titles(last) == ["Solaris", "Ubik"]
    assert (last.has_prev, last.has_next) == (True, False)
    assert len(last) == 2 and last.total == 6


def test_empty_result_set(library):
    _, _, repo = library
    result = repo.query.filter(author="Nobody").all()
    assert (result.items, result.total, result.first, result.last) == ([], 0, None, None)
    assert not result
    assert (result.has_next, result.has_prev) == (False, False)


def test_first_count_iteration_and_indexing(library):
    _, _, repo = library
    query = repo.query.filter(genre="sf").order_by("year")
    assert query.first.title == "Solaris"
    assert query.count() == 3
    assert [b.title for b in query] == ["Solaris", "Dune", "Ubik"]
    assert query[1].title == "Dune"
    assert len(query) == 3
    assert repo.query.filter(author="Nobody").first is None


def test_count_ignores_limit_and_offset(library):
    _, _, repo = library
    assert repo.query.limit(1).offset(1).count() == len(BOOKS)


def test_all_returns_everything(library):
    _, _, repo = library
    assert len(repo.all()) == len(BOOKS)
    assert repo.count() == len(BOOKS)


def test_get_accepts_the_identity_in_any_form_its_field_accepts(make_domain):
    import uuid

    domain = make_domain()

    @domain.aggregate
    class Ticket(BaseAggregate):
        title = String()

    @domain.aggregate
    class Seat(BaseAggregate):
        number = Identifier(identifier=True, identity_type="integer")

    start(domain)
    key = uuid.uuid4()
    with domain.domain_context():
        domain.repository_for(Ticket).add(Ticket(id=key, title="by uuid"))
        domain.repository_for(Seat).add(Seat(number=12))
        assert domain.repository_for(Ticket).get(key).title == "by uuid"
        assert domain.repository_for(Ticket).get(str(key)).title == "by uuid"
        assert domain.repository_for(Seat).get("12").number == 12
        assert domain.repository_for(Seat).get(12).number == 12
        assert domain.repository_for(Seat).get_or_none("twelve") is None


def test_a_database_provider_without_reads_is_read_through_transactions(make_domain):
    """``reads()`` is optional in the database port: without it, reads outside use ``begin()``."""
    from archipel.adapters.memory.database import MemoryDatabase
    from archipel.port import registry

    begun: list[int] = []

    class PlainDatabase(MemoryDatabase):
        reads = None  # a provider written before the port had reads()

        def begin(self):
            begun.append(1)
            return super().begin()

    registry.register_provider("database", "memory-plain", PlainDatabase)
    domain = make_domain(databases={"default": {"provider": "memory-plain"}})

    @domain.aggregate
    class Note(BaseAggregate):
        text = String()

    start(domain)
    with domain.domain_context():
        notes = domain.repository_for(Note)
        notes.add(Note(id="n1", text="kept"))
        before = len(begun)
        assert notes.get("n1").text == "kept"
        assert [n.id for n in notes.find(text="kept")] == ["n1"]
        assert len(begun) == before + 2  # each read outside began a transaction of its own
