"""The examples' domain.toml files select storage, broker and sync/async by environment only.

Each documented configuration is resolved from the real files (``load_config``) and its
adapters are started for real: memory, SQLite, PostgreSQL and Redis.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from archipel import Domain
from archipel.domain.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONTEXTS = ["accounts", "delivery", "payments", "products", "sales", "warehouse"]
FILES = [EXAMPLES / "bookshelf" / "domain.toml"] + [EXAMPLES / "multi_domain" / c / "domain.toml" for c in CONTEXTS]


def prefix(path: Path) -> str:
    return "BOOKSHELF" if path.parent.name == "bookshelf" else path.parent.name.upper()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_default_is_synchronous_and_in_process(path: Path):
    config = load_config(path, environ={})
    assert config["command_processing"] == "sync" and config["event_processing"] == "sync"
    assert config["brokers"]["default"]["provider"] == "inline"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_async_on_redis_by_environment(path: Path):
    name = prefix(path)
    environ = {
        "ARCHIPEL_ENV": "async",
        f"{name}_BROKER_PROVIDER": "redis",
        "REDIS_URL": "redis://10.0.0.5:6379/2",
    }
    config = load_config(path, environ=environ)
    assert config["command_processing"] == "async" and config["event_processing"] == "async"
    assert config["enable_outbox"] is True
    assert config["brokers"]["default"] == {"provider": "redis", "url": "redis://10.0.0.5:6379/2"}


def _database_env(path: Path, url: str) -> dict[str, str]:
    if path.parent.name == "bookshelf":
        return {"DATABASE_URL": url}
    name = prefix(path)
    return {f"{name}_DB_PROVIDER": "sql", f"{name}_DATABASE_URL": url}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_sqlite_by_environment_runs(path: Path, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    config = load_config(path, environ={**_database_env(path, url), "ARCHIPEL_ENV": "async"})
    assert config["databases"]["default"]["database_uri"] == url
    _start(config)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name)
def test_postgresql_and_redis_by_environment_run(path: Path, postgres_url: str, redis_url: str):
    environ = {
        **_database_env(path, postgres_url),
        "ARCHIPEL_ENV": "async",
        f"{prefix(path)}_BROKER_PROVIDER": "redis",
        "REDIS_URL": redis_url,
    }
    _start(load_config(path, environ=environ))


def _start(config: dict) -> None:
    """A domain on exactly this configuration: its adapters connect and answer."""
    domain = Domain(name=f"Cfg{uuid.uuid4().hex[:6]}", config=config)
    domain.init(traverse=False)
    try:
        with domain.domain_context():
            domain.setup_database()
            assert domain.event_store.read_all(after_global=0, limit=1) == []
            broker = domain.providers.broker("default")
            broker.publish("cfg_probe", {"hello": 1})
            assert "cfg_probe" in broker.streams()
            domain.drop_database()
    finally:
        domain.shutdown()
