"""Configuring the SQL adapters: URIs, providers, shared engines, and the errors that
say what to do (unreachable servers, missing directories), never with a password."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from archipel import BaseAggregate, Domain
from archipel.adapters.sql.database import SqlDatabase, create_database
from archipel.adapters.sql.engine import WAL_AUTOCHECKPOINT, normalize_url
from archipel.adapters.sql.event_store import create_event_store
from archipel.errors import ConfigurationError, DatabaseUnavailable
from archipel.fields import String
from tests._servers import free_port


def test_postgresql_uris_all_mean_psycopg_3():
    for uri in (
        "postgresql://u:p@h:5432/db",
        "postgres://u:p@h:5432/db",
        "postgresql+psycopg://u:p@h/db",
    ):
        url = normalize_url(uri, "postgresql")
        assert url.drivername == "postgresql+psycopg"
    with pytest.raises(ConfigurationError, match="psycopg 3"):
        normalize_url("postgresql+asyncpg://h/db", "postgresql")


def test_relative_sqlite_paths_are_resolved_against_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = normalize_url("sqlite:///data.db", "sqlite")
    assert url.database == str(tmp_path / "data.db")
    assert normalize_url("sqlite:///:memory:", "sqlite").database == ":memory:"


def test_provider_and_uri_must_agree():
    with pytest.raises(ConfigurationError, match="does not match"):
        SqlDatabase("default", {"provider": "sqlite", "database_uri": "postgresql://h/db"})
    with pytest.raises(ConfigurationError, match="needs a database_uri"):
        SqlDatabase("default", {"provider": "postgresql"})
    with pytest.raises(ConfigurationError, match="not supported"):
        SqlDatabase("default", {"provider": "sql", "database_uri": "mysql://h/db"})
    assert SqlDatabase("default", {"provider": "sql", "database_uri": "sqlite://"}).engine.is_memory


def test_the_event_store_shares_the_default_databases_engine(tmp_path):
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    database = create_database("default", {"provider": "sqlite", "database_uri": uri})
    shared = create_event_store({"provider": "sqlite"}, database=database)
    assert shared.engine is database.engine
    same_uri = create_event_store({"provider": "sqlite", "database_uri": uri}, database=database)
    assert same_uri is shared
    with pytest.raises(ConfigurationError, match="needs a database_uri"):
        create_event_store({"provider": "sqlite"}, database=None)


def test_an_event_store_elsewhere_warns_that_commits_are_separate(tmp_path, caplog):
    database = create_database(
        "default", {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'a.db'}"}
    )
    with caplog.at_level(logging.WARNING, logger="archipel.sql"):
        store = create_event_store(
            {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'events.db'}"},
            database=database,
        )
    assert store.engine is not database.engine
    assert "separate transactions" in caplog.text
    store.setup()
    assert store.read_all() == []
    store.close()


def test_an_in_memory_sqlite_domain_keeps_its_data_for_its_lifetime():
    domain = Domain(
        name="MemSql",
        config={
            "databases": {"default": {"provider": "sqlite", "database_uri": "sqlite:///:memory:"}},
            "event_store": {"provider": "sqlite"},
        },
    )

    @domain.aggregate
    class Note(BaseAggregate):
        text = String()

    domain.init(traverse=False)
    try:
        with domain.domain_context():
            domain.setup_database()
            domain.repository_for(Note).add(Note(id="n1", text="kept"))
            assert domain.repository_for(Note).get("n1").text == "kept"
            assert domain.event_store.read_all() == []
    finally:
        domain.shutdown()


def test_an_unreachable_server_is_named_without_its_password():
    port = free_port()
    database = SqlDatabase(
        "default",
        {
            "provider": "postgresql",
            "database_uri": f"postgresql://app:s3cr3t-pw@127.0.0.1:{port}/shop",
            "connect_timeout": 2,
        },
    )
    assert "s3cr3t-pw" not in repr(database)
    with pytest.raises(DatabaseUnavailable) as caught:
        database.outbox().pending_count()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "is the server running?" in message
    assert "'shop'" in message
    assert "s3cr3t-pw" not in message
    database.close()


def test_building_a_domain_does_not_connect():
    port = free_port()
    domain = Domain(
        name="Lazy",
        config={
            "databases": {
                "default": {
                    "provider": "postgresql",
                    "database_uri": f"postgresql://u:pw@127.0.0.1:{port}/x",
                }
            },
            "event_store": {"provider": "postgresql"},
        },
    )
    domain.init(traverse=False)  # nothing listens on that port: fine until first use
    try:
        with (
            domain.domain_context(),
            pytest.raises(DatabaseUnavailable, match="is the server running"),
        ):
            domain.setup_database()
    finally:
        domain.shutdown()


def test_a_sqlite_file_in_a_missing_directory_gets_its_directory(tmp_path: Path):
    # `sqlite:///.archipel/app.db` must work on a fresh checkout
    path = tmp_path / "nope" / "deeper" / "app.db"
    database = SqlDatabase("default", {"provider": "sqlite", "database_uri": f"sqlite:///{path}"})
    database.setup([])
    database.close()
    assert path.exists()


def test_a_sqlite_file_whose_directory_cannot_exist(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    database = SqlDatabase(
        "default", {"provider": "sqlite", "database_uri": f"sqlite:///{blocker / 'app.db'}"}
    )
    with pytest.raises(DatabaseUnavailable, match="directory exists"):
        database.setup([])
    database.close()


def test_sqlite_synchronous_setting_is_checked():
    with pytest.raises(ConfigurationError, match="synchronous"):
        SqlDatabase(
            "default",
            {"provider": "sqlite", "database_uri": "sqlite://", "synchronous": "sometimes"},
        )


@pytest.mark.parametrize("value", [-1, "often", 1.5, True])
def test_sqlite_wal_autocheckpoint_must_be_a_page_count(value: object):
    with pytest.raises(ConfigurationError, match="wal_autocheckpoint"):
        SqlDatabase(
            "default",
            {"provider": "sqlite", "database_uri": "sqlite://", "wal_autocheckpoint": value},
        )


def test_sqlite_wal_autocheckpoint_applies_to_every_connection(tmp_path: Path):
    def checkpoint_pages(settings: dict) -> int:
        database = SqlDatabase(
            "default",
            {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'c.db'}", **settings},
        )
        try:
            with database.engine.connection() as conn:
                return int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        finally:
            database.close()

    assert checkpoint_pages({}) == WAL_AUTOCHECKPOINT
    assert checkpoint_pages({"wal_autocheckpoint": 500}) == 500
    assert checkpoint_pages({"wal_autocheckpoint": 0}) == 0


def test_sqlite_files_run_in_wal_mode_and_survive_process_crashes_by_default(tmp_path: Path):
    default = SqlDatabase(
        "default", {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'a.db'}"}
    )
    full = SqlDatabase(
        "default",
        {
            "provider": "sqlite",
            "database_uri": f"sqlite:///{tmp_path / 'b.db'}",
            "synchronous": "full",
        },
    )

    def pragmas(database: SqlDatabase) -> tuple:
        with database.engine.connection() as conn:
            return (
                conn.execute("PRAGMA journal_mode").fetchone()[0],
                conn.execute("PRAGMA synchronous").fetchone()[0],
            )

    assert pragmas(default) == ("wal", 1)  # NORMAL
    assert pragmas(full) == ("wal", 2)  # FULL
    default.close()
    full.close()


@pytest.mark.parametrize(
    "provider", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_echo_logs_every_statement_with_its_parameters(provider, request, tmp_path, caplog):
    uri = (
        f"sqlite:///{tmp_path / 'echo.db'}"
        if provider == "sqlite"
        else request.getfixturevalue("postgres_db_url")
    )
    domain = Domain(
        name="Echo",
        config={
            "databases": {"default": {"provider": provider, "database_uri": uri, "echo": True}},
            "event_store": {"provider": provider},
        },
    )

    @domain.aggregate
    class Note(BaseAggregate):
        text = String()

    domain.init(traverse=False)
    try:
        with domain.domain_context(), caplog.at_level(logging.INFO, logger="archipel.sql"):
            domain.setup_database()
            domain.repository_for(Note).add(Note(id="n1", text="logged value"))
            assert domain.repository_for(Note).get("n1").text == "logged value"
            domain.drop_database()
    finally:
        domain.shutdown()
    text = caplog.text
    assert "CREATE TABLE" in text and "INSERT INTO echo_note" in text and "logged value" in text
    assert "SELECT" in text
