"""Domain services, application services (``@use_case``), queries and query handlers,
custom repositories."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseApplicationService,
    BaseDomainService,
    BaseEvent,
    BaseEventHandler,
    BaseProjection,
    BaseQuery,
    BaseQueryHandler,
    BaseRepository,
    current_domain,
    handle,
    invariant,
    use_case,
)
from archipel.errors import ValidationError
from archipel.fields import Identifier, Integer, String
from tests.unit._support import start

# --- domain services ---------------------------------------------------------------------


@pytest.fixture
def warehouse(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        quantity = Integer(default=1)
        status = String(default="new")

    @domain.aggregate
    class Stock(BaseAggregate):
        available = Integer(default=0)

    @domain.domain_service(part_of=[Order, Stock])
    class Allocation(BaseDomainService):
        def __init__(self, order, stock):
            super().__init__(order, stock)
            self.order = order
            self.stock = stock

        @invariant.pre
        def enough_stock(self):
            if self.stock.available < self.order.quantity:
                raise ValidationError({"quantity": ["not enough stock"]})

        @invariant.post
        def stock_never_negative(self):
            if self.stock.available < 0:
                raise ValidationError({"available": ["stock went negative"]})

        def allocate(self):
            self.stock.available -= self.order.quantity
            self.order.status = "allocated"
            return self.order

        def over_allocate(self):
            self.stock.available -= self.order.quantity * 10

    start(domain)
    return domain, Order, Stock, Allocation


def test_domain_service_runs_its_method_when_invariants_hold(warehouse):
    _, order_cls, stock_cls, service_cls = warehouse
    order, stock = order_cls(quantity=2), stock_cls(available=5)
    assert service_cls(order, stock).allocate() is order
    assert (order.status, stock.available) == ("allocated", 3)


def test_domain_service_pre_invariant_stops_the_method_before_it_runs(warehouse):
    _, order_cls, stock_cls, service_cls = warehouse
    order, stock = order_cls(quantity=9), stock_cls(available=5)
    with pytest.raises(ValidationError) as info:
        service_cls(order, stock).allocate()
    assert info.value.messages == {"quantity": ["not enough stock"]}
    assert (order.status, stock.available) == ("new", 5)


def test_domain_service_post_invariant_is_checked_after_the_method(warehouse):
    _, order_cls, stock_cls, service_cls = warehouse
    with pytest.raises(ValidationError) as info:
        service_cls(order_cls(quantity=1), stock_cls(available=5)).over_allocate()
    assert info.value.messages == {"available": ["stock went negative"]}


def test_plain_class_domain_service_gets_its_invariants_guarded(make_domain):
    domain = make_domain()
    calls = []

    @domain.domain_service
    class Pricing:
        @invariant.pre
        def check(self):
            calls.append("pre")

        def price(self):
            calls.append("price")
            return 1

    assert Pricing().price() == 1
    assert calls == ["pre", "price"]


# --- application services -----------------------------------------------------------------


@pytest.fixture
def registration(make_domain):
    domain = make_domain()
    seen = []

    @domain.aggregate
    class User(BaseAggregate):
        email = String(required=True)

    @domain.event(part_of=User)
    class UserRegistered(BaseEvent):
        user_id = Identifier()

    @domain.event_handler(part_of=User)
    class Welcome(BaseEventHandler):
        @handle(UserRegistered)
        def send(self, event):
            seen.append(event.user_id)

    @domain.application_service(part_of=User)
    class Registration(BaseApplicationService):
        @use_case
        def register_pair(self, first, second, fail=False):
            repo = current_domain.repository_for(User)
            users = [User(email=first), User(email=second)]
            for user in users:
                user.raise_(UserRegistered(user_id=user.id))
                repo.add(user)
            if fail:
                raise RuntimeError("mail server down")
            return [u.id for u in users]

    start(domain)
    return domain, User, Registration, seen


def test_use_case_returns_its_result_and_commits_its_changes(registration):
    domain, user_cls, service_cls, seen = registration
    with domain.domain_context():
        ids = service_cls().register_pair("a@x.org", "b@x.org")
        repo = domain.repository_for(user_cls)
        assert [repo.get(i).email for i in ids] == ["a@x.org", "b@x.org"]
    assert seen == ids


def test_use_case_runs_in_one_unit_of_work_so_a_failure_stores_nothing(registration):
    domain, user_cls, service_cls, seen = registration
    with domain.domain_context():
        with pytest.raises(RuntimeError):
            service_cls().register_pair("a@x.org", "b@x.org", fail=True)
        assert domain.repository_for(user_cls).count() == 0
        assert domain.event_store.count() == 0
    assert seen == []


def test_use_case_events_are_dispatched_after_the_whole_use_case_commits(registration):
    domain, user_cls, service_cls, _ = registration
    counts = []

    @domain.event_handler(part_of=user_cls)
    class Counter(BaseEventHandler):
        @handle(domain.registry.by_name["UserRegistered"])
        def count(self, event):
            counts.append(current_domain.repository_for(user_cls).count())

    domain.init(traverse=False)
    with domain.domain_context():
        service_cls().register_pair("a@x.org", "b@x.org")
    # both users were stored before the first event was handled
    assert counts == [2, 2]


# --- queries and query handlers -------------------------------------------------------------


def test_query_is_answered_by_its_handler_through_dispatch(make_domain):
    domain = make_domain()

    @domain.projection
    class Score(BaseProjection):
        player = Identifier(identifier=True)
        points = Integer(default=0)

    @domain.query(part_of=Score)
    class TopScores(BaseQuery):
        limit = Integer(default=2)

    @domain.query_handler(part_of=Score)
    class ScoreQueries(BaseQueryHandler):
        @handle(TopScores)
        def top(self, query):
            view = current_domain.query_for(Score)
            return [s.player for s in view.query.order_by("-points").limit(query.limit).all()]

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Score)
        for player, points in [("ann", 5), ("bob", 9), ("cy", 7)]:
            repo.add(Score(player=player, points=points))
        assert domain.dispatch(TopScores()) == ["bob", "cy"]
        assert domain.dispatch(TopScores(limit=1)) == ["bob"]


def test_queries_are_immutable(make_domain):
    class Find(BaseQuery):
        name = String()

    query = Find(name="x")
    with pytest.raises(Exception, match="immutable"):
        query.name = "y"


# --- custom repositories --------------------------------------------------------------------


def test_custom_repository_is_returned_by_repository_for(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Player(BaseAggregate):
        name = String()
        level = Integer(default=1)

    @domain.repository(part_of=Player)
    class PlayerRepository(BaseRepository):
        def experts(self):
            return [p.name for p in self.query.filter(level__gte=10).order_by("name").all()]

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Player)
        assert isinstance(repo, PlayerRepository)
        repo.add(Player(name="zed", level=12))
        repo.add(Player(name="amy", level=11))
        repo.add(Player(name="bo", level=2))
        assert repo.experts() == ["amy", "zed"]
        assert domain.repository_for(Player) is repo


def test_plain_class_repository_gets_the_base_mixed_in(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Player(BaseAggregate):
        name = String()

    @domain.repository(part_of=Player)
    class Players:
        def named(self, name):
            return self.find_by(name=name)

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Player)
        repo.add(Player(name="kim"))
        assert repo.named("kim").name == "kim"
