"""Providers named in Protean's documentation that archipel cannot run fail at init, saying so."""

from __future__ import annotations

import pytest

from archipel.errors import ConfigurationError


@pytest.mark.parametrize(
    ("config", "key", "provider"),
    [
        ({"databases": {"default": {"provider": "elasticsearch"}}}, "databases.default.provider", "elasticsearch"),
        ({"databases": {"default": {"provider": "memory"}, "search": {"provider": "mssql"}}},
         "databases.search.provider", "mssql"),
        ({"event_store": {"provider": "message_db"}}, "event_store.provider", "message_db"),
    ],
)
def test_a_documented_provider_archipel_cannot_run_is_a_configuration_error(make_domain, config, key, provider):
    domain = make_domain(**config)
    with pytest.raises(ConfigurationError) as err:
        domain.init(traverse=False)
    message = str(err.value)
    assert key in message and repr(provider) in message and "is not available" in message


def test_an_unknown_cache_provider_is_reported_too(make_domain):
    domain = make_domain(caches={"default": {"provider": "memcached"}})
    with pytest.raises(ConfigurationError, match=r"caches\.default\.provider"):
        domain.init(traverse=False)


def test_protean_s_domain_wide_transient_retry_switch_is_refused_not_ignored(make_domain):
    domain = make_domain(server={"transient_retry": {"enabled": True}})
    with pytest.raises(ConfigurationError, match="server.transient_retry"):
        domain.init(traverse=False)
