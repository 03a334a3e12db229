"""``QuerySet.only(...)`` yields read-only ``Record`` objects (Protean's), on every database."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseEntity, Domain, Record
from archipel.errors import NotSupportedError
from archipel.fields import HasMany, Identifier, Integer, String

PG = pytest.param("postgresql", marks=pytest.mark.postgres)


@pytest.fixture(params=["memory", "sqlite", PG])
def shop(request, tmp_path):
    if request.param == "memory":
        database = {"provider": "memory"}
    elif request.param == "sqlite":
        database = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'only.db'}"}
    else:
        database = {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}
    domain = Domain(name=f"Only{uuid.uuid4().hex[:6]}", config={"databases": {"default": database}})

    @domain.aggregate
    class Book(BaseAggregate):
        book_id = Identifier(identifier=True)
        title = String(max_length=100)
        stock = Integer(default=0)
        blurb = String()
        reviews = HasMany("Review")

    @domain.entity(part_of=Book)
    class Review(BaseEntity):
        text = String()

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        repo = domain.repository_for(Book)
        repo.add(Book(book_id="b1", title="Dune", stock=3, blurb="sand"))
        repo.add(Book(book_id="b2", title="Emma", stock=0, blurb="manners"))
        yield domain, Book, repo
        domain.drop_database()
    domain.shutdown()


def test_only_yields_records_of_the_selected_fields_and_the_identity(shop):
    _, Book, repo = shop
    records = repo.query.filter(stock__gt=0).only("title").all()
    assert records.total == 1
    [record] = records
    assert isinstance(record, Record)
    assert record.keys() == ["book_id", "title"]
    assert (record.book_id, record.title, record["title"]) == ("b1", "Dune", "Dune")
    assert record.to_dict() == {"book_id": "b1", "title": "Dune"}
    assert "title" in record and "stock" not in record
    with pytest.raises(AttributeError, match="'stock' was not selected"):
        record.stock  # noqa: B018 - reading it is the test
    with pytest.raises(KeyError, match="stock"):
        record["stock"]  # noqa: B018
    with pytest.raises(AttributeError, match="read-only"):
        record.title = "Other"
    with pytest.raises(TypeError):
        hash(record)


def test_only_again_replaces_the_selection_and_no_names_restore_elements(shop):
    _, Book, repo = shop
    query = repo.query.order_by("book_id").only("title")
    assert [r.keys() for r in query.only("stock")] == [["book_id", "stock"], ["book_id", "stock"]]
    assert all(isinstance(b, Book) for b in query.only())
    assert query.count() == 2


def test_only_refuses_unknown_fields_and_associations(shop):
    _, _, repo = shop
    with pytest.raises(KeyError, match="no field 'price'"):
        repo.query.only("price")
    with pytest.raises(NotSupportedError, match="association"):
        repo.query.only("reviews")


def test_a_read_view_query_keeps_the_selection(shop):
    domain, Book, _ = shop
    # views serve projections; a repository's read-only twin keeps only() as well
    from archipel.core.queryset import ReadOnlyQuerySet

    rows = ReadOnlyQuerySet.of(domain.repository_for(Book).query.only("stock")).order_by("book_id").all()
    assert [r.to_dict() for r in rows] == [{"book_id": "b1", "stock": 3}, {"book_id": "b2", "stock": 0}]


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.integers() | st.text(), max_size=5))
def test_records_compare_by_value(data):
    assert Record("Book", data) == Record("Book", dict(data))
    assert Record("Book", data) != Record("Film", data)
    assert Record("Book", data).to_dict() == data
