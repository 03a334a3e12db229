"""The throwaway PostgreSQL and Redis servers work, survive restarts and crashes, and are strict under CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
import redis

from tests._servers import PostgresServer, RedisServer, to_libpq_url

TESTS_DIR = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- PostgreSQL


def test_postgres_answers_with_default_durability(postgres_url: str) -> None:
    """``select 1`` works on the test database; fsync and synchronous_commit are on."""
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    with psycopg.connect(to_libpq_url(postgres_url)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("select current_database()").fetchone() == ("archipel_test",)


def test_postgres_url_works_with_sqlalchemy(postgres_url: str) -> None:
    """The URL is in SQLAlchemy form (psycopg 3 driver)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select 1")).scalar_one() == 1
    finally:
        engine.dispose()


def test_postgres_db_url_is_a_fresh_database(postgres_db_url: str, postgres_url: str) -> None:
    """Each module gets its own empty database on the same server."""
    assert postgres_db_url != postgres_url
    with psycopg.connect(to_libpq_url(postgres_db_url)) as conn:
        name = conn.execute("select current_database()").fetchone()
        assert name is not None and name[0].startswith("t_test_servers_")
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)


def test_service_markers_are_applied(request: pytest.FixtureRequest, postgres_url: str) -> None:
    """Using a server fixture marks the test ``postgres`` (or ``redis``)."""
    assert request.node.get_closest_marker("postgres") is not None
    assert request.node.get_closest_marker("redis") is None


def test_postgres_restart_keeps_committed_data(postgres_server: PostgresServer) -> None:
    """A fast stop/start keeps the port and the committed rows."""
    port = postgres_server.port
    with postgres_server.connect() as conn:
        conn.execute("create table restart_probe (n int)")
        conn.execute("insert into restart_probe values (1)")
    postgres_server.restart()
    assert postgres_server.port == port
    with postgres_server.connect() as conn:
        assert conn.execute("select n from restart_probe").fetchall() == [(1,)]
        conn.execute("drop table restart_probe")


def test_postgres_crash_keeps_committed_data(postgres_server: PostgresServer) -> None:
    """After SIGKILL of every server process, crash recovery keeps what was committed."""
    with postgres_server.connect() as conn:
        conn.execute("create table crash_probe (n int)")
        conn.execute("insert into crash_probe values (42)")
    postgres_server.kill()
    assert not postgres_server.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_server.libpq_url(), connect_timeout=2).close()
    postgres_server.start()
    with postgres_server.connect() as conn:
        assert conn.execute("select n from crash_probe").fetchall() == [(42,)]
        conn.execute("drop table crash_probe")


def test_extra_databases_can_be_created_and_dropped(postgres_server: PostgresServer) -> None:
    """``create_database``/``drop_database`` work, even with a client still connected."""
    name = postgres_server.create_database(prefix="Extra DB!")
    assert name.startswith("extra_db_")
    client = postgres_server.connect(name)
    try:
        postgres_server.drop_database(name)
    finally:
        client.close()
    with postgres_server.connect("postgres") as conn:
        found = conn.execute(
            "select count(*) from pg_database where datname = %s", (name,)
        ).fetchone()
        assert found == (0,)


# --------------------------------------------------------------------------- Redis


def test_redis_answers(redis_url: str) -> None:
    """``PING`` works through redis-py on ``redis://127.0.0.1:PORT/0``."""
    assert redis_url.startswith("redis://127.0.0.1:") and redis_url.endswith("/0")
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("save") == {"save": ""}
    finally:
        client.close()


def test_redis_restart_keeps_port_and_loses_data(redis_server: RedisServer) -> None:
    """A kill/start keeps the port; with no persistence the data is gone; clients reconnect."""
    client = redis.Redis.from_url(redis_server.url())
    try:
        client.set("restart-probe", "1")
        port = redis_server.port
        redis_server.restart()
        assert redis_server.port == port
        assert client.ping() is True
        assert client.get("restart-probe") is None
        redis_server.restart(graceful=True)
        assert client.ping() is True
    finally:
        client.close()


def test_redis_flushed_url_starts_empty(redis_flushed_url: str) -> None:
    """``redis_flushed_url`` gives an empty server."""
    client = redis.Redis.from_url(redis_flushed_url)
    try:
        assert client.dbsize() == 0
    finally:
        client.close()


def test_dedicated_redis_with_aof_survives_a_crash() -> None:
    """``RedisServer.launch(config=...)`` starts a separate server, here with ``appendfsync always``."""
    server = RedisServer.launch(config={"appendonly": "yes", "appendfsync": "always"})
    try:
        client = redis.Redis.from_url(server.url())
        try:
            client.set("durable", "yes")
            server.restart()
            assert client.get("durable") == b"yes"
        finally:
            client.close()
    finally:
        server.destroy()
    assert not server.basedir.exists()


# --------------------------------------------------------------------------- missing servers, CI


def _run_session(tmp_path: Path, test_source: str, *, ci: bool) -> subprocess.CompletedProcess[str]:
    """Run a small pytest session with this conftest, on a machine where no server is installed."""
    package = tmp_path / "tests"
    package.mkdir(parents=True)
    for name in ("__init__.py", "conftest.py", "_servers.py"):
        shutil.copy(TESTS_DIR / name, package / name)
    (package / "test_sample.py").write_text(textwrap.dedent(test_source))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    postgres: pg\n    redis: redis\n    slow: slow\n"
    )
    ignored = {"CI", "ARCHIPEL_RUN_SLOW", "PYTEST_ADDOPTS"}
    env = {key: value for key, value in os.environ.items() if key not in ignored}
    env.update(
        ARCHIPEL_PG_BINDIR=str(tmp_path / "absent"), ARCHIPEL_REDIS_SERVER=str(tmp_path / "absent")
    )
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SAMPLE = """
    import pytest

    def test_pg(postgres_url):
        pass

    def test_redis(redis_url):
        pass

    @pytest.mark.slow
    @pytest.mark.postgres
    def test_slow():
        pass
"""


def test_missing_servers_skip_locally(tmp_path: Path) -> None:
    """Without CI, service tests skip with a clear reason and the session passes."""
    result = _run_session(tmp_path, SAMPLE, ci=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 skipped" in result.stdout
    assert "install the Debian package 'postgresql'" in result.stdout
    assert "install the Debian package 'redis-server'" in result.stdout
    assert "--run-slow" in result.stdout


def test_missing_servers_fail_under_ci(tmp_path: Path) -> None:
    """With CI set, a missing server is an error; slow skips stay allowed."""
    result = _run_session(tmp_path, SAMPLE, ci=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 errors" in result.stdout and "1 skipped" in result.stdout
    assert "CI is set" in result.stdout


def test_skipped_service_test_fails_the_session_under_ci(tmp_path: Path) -> None:
    """With CI set, a ``postgres``/``redis`` test that skips itself makes the session fail."""
    source = """
        import pytest

        @pytest.mark.redis
        def test_skips_itself():
            pytest.skip("no reason to run")

        def test_plain():
            pass
    """
    local = _run_session(tmp_path / "local", source, ci=False)
    assert local.returncode == 0, local.stdout + local.stderr
    strict = _run_session(tmp_path / "ci", source, ci=True)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "skipped under CI (this fails the run)" in strict.stdout
    assert "test_sample.py::test_skips_itself [redis]: Skipped: no reason to run" in strict.stdout
