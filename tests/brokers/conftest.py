"""The ``broker`` fixture: the contract suite runs once per adapter.

``inline`` needs nothing; ``redis`` uses the session's throwaway Redis
(``redis_flushed_url``); ``redis-cluster`` the session's Redis Cluster of 3
masters (``redis_cluster_url``: started only when these tests run); ``database-sqlite`` and ``database-postgres`` run
the embedded database broker once the SQL adapters are installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from archipel.adapters.memory.broker import InlineBroker


def _has_sql_broker() -> bool:
    try:
        return importlib.util.find_spec("archipel.adapters.sql.broker") is not None
    except ImportError:  # the SQL adapters are not (completely) there
        return False


_HAS_SQL = _has_sql_broker()


def _params() -> list[Any]:
    params: list[Any] = [
        pytest.param("inline", id="inline"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", id="redis-cluster", marks=pytest.mark.redis),
    ]
    if _HAS_SQL:
        params += [
            pytest.param("sqlite", id="database-sqlite"),
            pytest.param("postgresql", id="database-postgres", marks=pytest.mark.postgres),
        ]
    return params


@pytest.fixture(params=_params())
def broker(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    kind = request.param
    if kind == "inline":
        made: Any = InlineBroker()
    elif kind == "redis":
        from archipel.adapters.redis.broker import RedisBroker

        made = RedisBroker("default", {"URI": request.getfixturevalue("redis_flushed_url")})
    elif kind == "redis-cluster":
        from archipel.adapters.redis.broker import RedisBroker

        made = RedisBroker("default", {"URI": request.getfixturevalue("redis_cluster_url"), "cluster": True})
    else:
        from archipel.adapters.sql.broker import DatabaseBroker  # type: ignore[import-not-found]

        if kind == "sqlite":
            url = f"sqlite:///{tmp_path}/broker.db"
        else:
            url = request.getfixturevalue("postgres_db_url")
        made = DatabaseBroker("default", {"database_uri": url})
        made.truncate()
    try:
        yield made
    finally:
        made.close()
