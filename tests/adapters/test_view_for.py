"""``domain.view_for(Projection)``: a read-only view (``ReadView``) whose ``query`` is a
``ReadOnlyQuerySet``, on every provider."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseProjection
from archipel.core.queryset import ReadOnlyQuerySet
from archipel.core.view import ReadView
from archipel.errors import (
    IncorrectUsageError,
    NotSupportedError,
    ObjectNotFoundError,
    TooManyObjectsError,
)
from archipel.fields import Identifier, Integer, String
from tests.adapters.conftest import start


@pytest.fixture
def shop(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        customer = String(max_length=20)

    @domain.projection
    class Summary(BaseProjection):
        order_id = Identifier(identifier=True)
        customer = String(max_length=20)
        status = String(max_length=20)
        total = Integer(default=0)

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Summary)
        for oid, customer, status, total in [
            ("o1", "ada", "shipped", 30),
            ("o2", "bob", "open", 10),
            ("o3", "ada", "shipped", 20),
        ]:
            repo.add(Summary(order_id=oid, customer=customer, status=status, total=total))
        yield domain, Order, Summary


def test_a_view_reads_the_projection(shop):
    domain, _, Summary = shop
    view = domain.view_for(Summary)
    assert isinstance(view, ReadView)
    assert view.get("o2").customer == "bob"
    assert view.find_by(customer="bob").order_id == "o2"
    assert view.count() == 3
    assert view.exists("o1") and not view.exists("zz")
    with pytest.raises(ObjectNotFoundError):
        view.get("zz")
    with pytest.raises(TooManyObjectsError):
        view.find_by(customer="ada")


def test_the_query_filters_orders_and_pages_and_stays_read_only(shop):
    domain, _, Summary = shop
    query = domain.view_for(Summary).query.filter(status="shipped").order_by("-total")
    assert isinstance(query, ReadOnlyQuerySet)
    assert [s.order_id for s in query.all()] == ["o1", "o3"]
    assert query.count() == 2
    assert [s.order_id for s in query.offset(1).limit(1)] == ["o3"]
    assert query.exclude(customer="ada").count() == 0
    for refused in (query.update, query.delete, query.exclude(total=0).delete):
        with pytest.raises(NotSupportedError, match="read-only"):
            refused()
    assert domain.view_for(Summary).count() == 3  # nothing was changed


def test_a_view_has_no_writes_and_takes_only_projections(shop):
    domain, Order, Summary = shop
    view = domain.view_for(Summary)
    for write in ("add", "remove", "save", "delete"):
        assert not hasattr(view, write)
    with pytest.raises(IncorrectUsageError, match="view_for takes a projection, got Order"):
        domain.view_for(Order)
