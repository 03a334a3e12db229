"""The adapter conformance suite runs every test once per storage provider.

``provider`` is ``memory``, ``sqlite`` (a file in the test's temporary
directory) or ``postgresql`` (a fresh database per test module on the
session's throwaway server; marked ``postgres``). ``storage`` is the matching
``[databases.default]`` + ``[event_store]`` configuration, and ``make_domain``
builds domains on it with clean tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archipel import Domain

PROVIDERS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
SQL_PROVIDERS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def storage_config(provider: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """``databases`` + ``event_store`` tables for ``provider`` (shared engine, one transaction)."""
    if provider == "memory":
        database: dict[str, Any] = {"provider": "memory"}
    elif provider == "sqlite":
        database = {
            "provider": "sqlite",
            "database_uri": f"sqlite:///{tmp_path / 'app.db'}",
            "pool_size": 40,
        }
    else:
        url = request.getfixturevalue("postgres_db_url")
        # enough connections for the concurrency tests' 32 writers
        database = {
            "provider": "postgresql",
            "database_uri": url,
            "pool_size": 40,
            "max_overflow": 10,
        }
    return {
        "databases": {"default": database},
        "event_store": {"provider": provider},
        "brokers": {"default": {"provider": "inline"}},
    }


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def storage(provider: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return storage_config(provider, request, tmp_path)


@pytest.fixture
def make_domain(storage: dict[str, Any]) -> Iterator[Callable[..., Domain]]:
    """``make_domain(**config)``: a uniquely named domain on the provider under test.

    Call ``start(domain)`` once its elements are registered: it initialises the
    domain and recreates its tables empty. Domains are shut down after the test.
    """
    created: list[Domain] = []

    def factory(name: str | None = None, **config: Any) -> Domain:
        domain = Domain(name=name or f"T{uuid.uuid4().hex[:10]}", config={**storage, **config})
        created.append(domain)
        return domain

    yield factory
    for domain in created:
        if domain.initialized:
            domain.shutdown()


def start(domain: Domain) -> Domain:
    """Initialise ``domain`` (no module traversal) and give it empty tables."""
    domain.init(traverse=False)
    with domain.domain_context():
        domain.drop_database()
        domain.setup_database()
    return domain
