"""Caches (``[caches.<name>]``, Protean's ``BaseCache``) on the memory adapter and a real Redis.

Projections declared ``cache="<name>"`` are written and read through
``domain.cache_for(Projection)``; every value comes back exactly as it went in.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import Domain
from archipel.core.projection import BaseProjection
from archipel.errors import ConfigurationError, IncorrectUsageError, ValidationError
from archipel.fields import Date, DateTime, Float, Identifier, Integer, String
from archipel.fields import Decimal as DecimalField
from archipel.port.cache import Cache, CacheAdmin, CacheReader, CacheWriter


def declare(domain: Domain, *, ledger: bool = True) -> None:
    """Register this test's projections (each domain defines its own classes) on ``domain``."""

    class Balance(BaseProjection):
        account_id = Identifier(identifier=True)
        owner = String(max_length=200)
        amount = DecimalField(max_digits=20, decimal_places=4)
        opened_on = Date()
        updated_at = DateTime()
        visits = Integer(default=0)
        ratio = Float()

    class Ledger(BaseProjection):
        ledger_id = Identifier(identifier=True)
        total = Integer(default=0)

    domain.register(Balance, cache="default")
    if ledger:
        domain.register(Ledger, cache="default")
    domain.Balance = Balance  # type: ignore[attr-defined]
    domain.Ledger = Ledger  # type: ignore[attr-defined]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cache_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {"provider": "memory"}
    return {"provider": "redis", "URI": request.getfixturevalue("redis_flushed_url").rsplit("/", 1)[0] + "/2"}


@pytest.fixture
def make_domain(cache_settings: dict[str, Any]) -> Iterator[Callable[..., Domain]]:
    created: list[Domain] = []

    def factory(**cache_options: Any) -> Domain:
        domain = Domain(
            name=f"C{uuid.uuid4().hex[:8]}",
            config={"caches": {"default": {**cache_settings, **cache_options}}},
        )
        declare(domain)
        domain.init(traverse=False)
        created.append(domain)
        return domain

    yield factory
    for domain in created:
        domain.shutdown()


@pytest.fixture
def cache(make_domain: Callable[..., Domain]) -> Any:
    domain = make_domain()
    found = domain.cache_for(domain.Balance)  # type: ignore[attr-defined]
    found.test_domain = domain
    return found


def balance(cache: Any, account_id: str = "a1", **values: Any) -> Any:
    return cache.test_domain.Balance(
        account_id=account_id,
        owner=values.pop("owner", "Ada"),
        amount=values.pop("amount", Decimal("10.50")),
        opened_on=values.pop("opened_on", dt.date(2024, 2, 29)),
        updated_at=values.pop("updated_at", dt.datetime(2024, 3, 1, 12, 30, 1, 123456, tzinfo=dt.UTC)),
        **values,
    )


def test_the_cache_is_the_port_split_by_role(cache: Any) -> None:
    assert isinstance(cache, Cache)
    assert isinstance(cache, CacheReader) and isinstance(cache, CacheWriter) and isinstance(cache, CacheAdmin)
    assert cache.ping() is True


def test_a_projection_is_stored_under_its_snake_name_and_identity(cache: Any) -> None:
    cache.add(balance(cache, "a1"))
    assert cache.get("balance:::a1") == balance(cache, "a1")
    assert cache.get("balance:::missing") is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amount=st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**15), max_value=10**15),
    opened_on=st.dates(),
    updated_at=st.datetimes(timezones=st.just(dt.UTC)),
    owner=st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=50),
    ratio=st.floats(allow_nan=False, allow_infinity=False),
)
def test_values_come_back_exactly(
    cache: Any, amount: Decimal, opened_on: dt.date, updated_at: dt.datetime, owner: str, ratio: float
) -> None:
    stored = balance(cache, "x", amount=amount, opened_on=opened_on, updated_at=updated_at, owner=owner, ratio=ratio)
    cache.add(stored)
    got = cache.get("balance:::x")
    assert got.to_dict() == stored.to_dict()
    assert got.amount == amount and str(got.amount) == str(stored.amount)
    assert got.opened_on == opened_on and got.updated_at == updated_at and got.ratio == ratio


def test_a_value_json_would_alter_is_refused_and_nothing_is_stored(cache: Any) -> None:
    with pytest.raises(ValidationError):
        cache.add(balance(cache, "nan", ratio=math.nan))
    assert cache.get("balance:::nan") is None


def test_what_get_returns_is_a_copy(cache: Any) -> None:
    cache.add(balance(cache, "a1", visits=1))
    cache.get("balance:::a1").visits = 99
    assert cache.get("balance:::a1").visits == 1


def test_get_all_and_count_match_a_glob_in_key_order(cache: Any) -> None:
    for account in ("b", "a", "c"):
        cache.add(balance(cache, account))
    cache.add(cache.test_domain.Ledger(ledger_id="a", total=3))
    assert [b.account_id for b in cache.get_all("balance:::*")] == ["a", "b", "c"]
    assert cache.count("balance:::*") == 3
    assert cache.count("ledger:::?") == 1
    assert cache.get("ledger:::a").total == 3


def test_removal_by_projection_key_and_pattern(cache: Any) -> None:
    for account in ("a", "b", "c"):
        cache.add(balance(cache, account))
    cache.add(cache.test_domain.Ledger(ledger_id="a"))
    cache.remove(balance(cache, "a"))
    cache.remove_by_key("balance:::b")
    cache.remove_by_key("balance:::absent")
    assert [b.account_id for b in cache.get_all("balance:::*")] == ["c"]
    cache.remove_by_key_pattern("balance:::*")
    assert cache.count("balance:::*") == 0
    assert cache.get("ledger:::a") is not None
    cache.flush_all()
    assert cache.get("ledger:::a") is None


def test_entries_live_for_the_configured_ttl(make_domain: Callable[..., Domain]) -> None:
    domain = make_domain(TTL=120)
    cache = domain.cache_for(domain.Balance)  # type: ignore[attr-defined]
    cache.test_domain = domain
    assert cache.get_ttl("balance:::a1") is None
    cache.add(balance(cache, "a1"))
    assert 110 < cache.get_ttl("balance:::a1") <= 120
    cache.add(balance(cache, "a2"), ttl="30")
    assert 20 < cache.get_ttl("balance:::a2") <= 30
    cache.set_ttl("balance:::a1", 5)
    assert 0 < cache.get_ttl("balance:::a1") <= 5
    cache.set_ttl("balance:::absent", 5)
    assert cache.get_ttl("balance:::absent") is None


def test_the_default_ttl_is_protean_s_300_seconds(cache: Any) -> None:
    cache.add(balance(cache, "a1"))
    assert 290 < cache.get_ttl("balance:::a1") <= 300


def test_an_expired_entry_is_gone(cache: Any) -> None:
    cache.add(balance(cache, "a1"), ttl=0.05)
    time.sleep(0.2)
    assert cache.get("balance:::a1") is None
    assert cache.count("balance:::*") == 0
    assert cache.get_ttl("balance:::a1") is None


@pytest.mark.parametrize("ttl", [0, -1, "soon", math.nan, math.inf, True])
def test_a_ttl_that_is_not_a_positive_number_of_seconds_is_refused(cache: Any, ttl: Any) -> None:
    with pytest.raises(ConfigurationError, match="TTL"):
        cache.add(balance(cache, "a1"), ttl=ttl)
    with pytest.raises(ConfigurationError, match="TTL"):
        cache.set_ttl("balance:::a1", ttl)
    assert cache.get("balance:::a1") is None


def test_a_wrong_ttl_setting_fails_at_init(cache_settings: dict[str, Any]) -> None:
    domain = Domain(name="BadTTL", config={"caches": {"default": {**cache_settings, "TTL": "never"}}})
    with pytest.raises(ConfigurationError, match=r"\[caches\.default\].*TTL"):
        domain.init(traverse=False)


def test_an_unknown_cache_setting_fails_at_init_naming_it(cache_settings: dict[str, Any]) -> None:
    domain = Domain(name="BadKey", config={"caches": {"default": {**cache_settings, "ttl_seconds": 3}}})
    with pytest.raises(ConfigurationError, match=r"\[caches\.default\] unknown setting\(s\) ttl_seconds"):
        domain.init(traverse=False)


def test_domain_caches_names_them_and_cache_for_refuses_what_is_not_cached(
    make_domain: Callable[..., Domain],
) -> None:
    domain = make_domain()
    assert list(domain.caches) == ["default"]
    assert domain.caches["default"] is domain.cache_for(domain.Ledger)  # type: ignore[attr-defined]

    @domain.projection
    class Stored(BaseProjection):
        stored_id = Identifier(identifier=True)

    with pytest.raises(IncorrectUsageError, match="cache_for takes a projection declared with cache="):
        domain.cache_for(Stored)


@pytest.mark.redis
def test_redis_entries_are_shared_by_every_domain_on_the_uri(redis_flushed_url: str) -> None:
    def build() -> Domain:
        domain = Domain(name="Shared", config={"caches": {"default": {"provider": "redis", "URI": redis_flushed_url}}})
        declare(domain, ledger=False)
        domain.init(traverse=False)
        domain.cache_for(domain.Balance).test_domain = domain  # type: ignore[attr-defined]
        return domain

    writer, reader = build(), build()
    try:
        cache = writer.cache_for(writer.Balance)  # type: ignore[attr-defined]
        cache.add(balance(cache, "a1", amount=Decimal("0.0001")))
        shared = reader.cache_for(reader.Balance)  # type: ignore[attr-defined]
        assert shared.get("balance:::a1").amount == Decimal("0.0001")
        assert shared.get_ttl("balance:::a1") <= 300
    finally:
        writer.shutdown()
        reader.shutdown()


@pytest.mark.redis
def test_a_redis_cached_projection_has_no_repository(redis_flushed_url: str) -> None:
    domain = Domain(name="NoRepo", config={"caches": {"default": {"provider": "redis", "URI": redis_flushed_url}}})
    declare(domain)
    domain.init(traverse=False)
    try:
        with pytest.raises(IncorrectUsageError, match=r"Ledger is cache-backed .*cache_for\(Ledger\)"):
            domain.repository_for(domain.Ledger)  # type: ignore[attr-defined]
    finally:
        domain.shutdown()


def test_a_redis_cache_needs_an_address() -> None:
    domain = Domain(name="NoUri", config={"caches": {"default": {"provider": "redis"}}})
    with pytest.raises(ConfigurationError, match=r'\[caches\.default\] provider = "redis" needs a server address'):
        domain.init(traverse=False)


@pytest.mark.redis
def test_connection_for_a_redis_cached_projection_is_the_redis_client(redis_flushed_url: str) -> None:
    domain = Domain(name="Raw", config={"caches": {"default": {"provider": "redis", "URI": redis_flushed_url}}})
    declare(domain)
    domain.init(traverse=False)
    try:
        cache = domain.cache_for(domain.Ledger)  # type: ignore[attr-defined]
        cache.add(domain.Ledger(ledger_id="l1", total=7))  # type: ignore[attr-defined]
        with domain.connection_for(domain.Ledger) as client:  # type: ignore[attr-defined]
            assert client.exists("ledger:::l1") == 1
    finally:
        domain.shutdown()


def test_a_cached_projection_is_not_rebuilt_into_a_table(make_domain: Callable[..., Domain]) -> None:
    domain = make_domain()
    with domain.domain_context():
        with pytest.raises(IncorrectUsageError, match="lives in cache 'default'"):
            domain.rebuild_projection(domain.Balance)  # type: ignore[attr-defined]
        assert domain.rebuild_all_projections() == {}  # nothing in a database to rebuild
