"""Every built-in provider refuses a setting it does not know, naming the table, the key
and what is allowed (a typo in ``domain.toml`` never changes nothing silently)."""

from __future__ import annotations

import pytest

from archipel import Domain
from archipel.errors import ConfigurationError


def build(tmp_path, **config):
    domain = Domain(name="Settings", config=config)
    try:
        domain.init(traverse=False)
    finally:
        if domain.initialized:
            domain.shutdown()


@pytest.mark.parametrize(
    ("config", "table", "key"),
    [
        ({"databases": {"default": {"provider": "memory", "pool_sise": 3}}}, "[databases.default]", "pool_sise"),
        (
            {"databases": {"default": {"provider": "sqlite", "database_uri": "sqlite:///{db}", "pool_sise": 3}}},
            "[databases.default]",
            "pool_sise",
        ),
        ({"event_store": {"provider": "memory", "snapshot_treshold": 5}}, "[event_store]", "snapshot_treshold"),
        (
            {
                "databases": {"default": {"provider": "sqlite", "database_uri": "sqlite:///{db}"}},
                "event_store": {"provider": "sqlite", "tabel": "events"},
            },
            "[event_store]",
            "tabel",
        ),
        ({"brokers": {"default": {"provider": "inline", "max_len": 5}}}, "[brokers.default]", "max_len"),
        (
            {
                "databases": {"default": {"provider": "sqlite", "database_uri": "sqlite:///{db}"}},
                "brokers": {"default": {"provider": "database", "table_prefx": "x"}},
            },
            "[brokers.default]",
            "table_prefx",
        ),
    ],
)
def test_an_unknown_provider_setting_is_refused_naming_it(tmp_path, config, table, key):
    db = tmp_path / "app.db"
    config = _fill(config, str(db))
    with pytest.raises(ConfigurationError) as info:
        build(tmp_path, **config)
    message = str(info.value)
    assert table in message and key in message and "allowed:" in message


def test_a_table_switched_by_environment_keeps_its_unused_address(tmp_path):
    # ``provider = "${DB|memory}"`` beside ``database_uri``: memory accepts and ignores it
    build(
        tmp_path,
        databases={"default": {"provider": "memory", "database_uri": f"sqlite:///{tmp_path / 'x.db'}"}},
        event_store={"provider": "memory", "database_uri": "sqlite:///unused.db"},
        brokers={"default": {"provider": "inline", "url": "redis://localhost:6379/0"}},
    )


def test_every_setting_a_sql_database_documents_is_accepted(tmp_path):
    uri = f"sqlite:///{tmp_path / 'all.db'}"
    build(
        tmp_path,
        databases={
            "default": {
                "provider": "sqlite", "database_uri": uri, "echo": False, "pool_size": 3,
                "max_overflow": 2, "pool_timeout": 5, "pool_recycle": 60, "synchronous": "NORMAL",
                "wal_autocheckpoint": 1000, "busy_timeout": 5, "outbox_table": "my_outbox",
                "processed_table": "my_processed",
            }
        },
        event_store={"provider": "sqlite", "stuck_warning_seconds": 5},
    )


def _fill(value, db):
    if isinstance(value, dict):
        return {k: _fill(v, db) for k, v in value.items()}
    return value.replace("{db}", db) if isinstance(value, str) else value
