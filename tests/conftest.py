"""Session-wide test configuration: real throwaway servers, markers and CI strictness.

Fixtures (see ``tests/_servers.py`` for the server objects' methods):

* ``postgres_server`` (session): a :class:`PostgresServer` on 127.0.0.1.
* ``postgres_url`` (session): SQLAlchemy URL of its test database,
  ``postgresql+psycopg://postgres@127.0.0.1:PORT/archipel_test``.
* ``postgres_db_url`` (module): SQLAlchemy URL of a fresh database created for
  the test module and dropped after it.
* ``redis_server`` (session): a :class:`RedisServer` on 127.0.0.1.
* ``redis_url`` (session): ``redis://127.0.0.1:PORT/0``.
* ``redis_flushed_url`` (function): ``redis_url`` after ``FLUSHALL``.
* ``redis_cluster`` (session, started on first use only): a
  :class:`RedisClusterServers` of 3 masters with one replica each.
* ``redis_cluster_url`` (function): URL of one of its nodes, every master flushed.

Tests using them get the ``postgres`` / ``redis`` marker automatically.  When
a server's binaries are missing such tests are skipped, except under CI (env
``CI`` true), where they fail; and under CI a session in which any
``postgres``/``redis`` test was skipped (for any reason other than ``slow``),
or a whole test module was (``pytest.importorskip``: a dev dependency such
as Protean, the parity tests' oracle, is missing), exits non-zero.

Tests marked ``slow`` run only with ``--run-slow`` or ``ARCHIPEL_RUN_SLOW=1``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

import pytest
from hypothesis import settings as hypothesis_settings

from tests._servers import (
    PostgresServer,
    RedisClusterServers,
    RedisServer,
    ServerUnavailable,
    env_flag,
    find_postgres_bindir,
    find_redis_server,
)

# Property tests check values, never time: Hypothesis's 200 ms per-example deadline
# failed them on a loaded machine (a timing assertion by another name).
hypothesis_settings.register_profile("archipel", deadline=None)
hypothesis_settings.load_profile("archipel")

POSTGRES_FIXTURES = frozenset({"postgres_server", "postgres_url", "postgres_db_url"})
REDIS_FIXTURES = frozenset(
    {"redis_server", "redis_url", "redis_flushed_url", "redis_cluster", "redis_cluster_url"}
)
SERVICE_MARKERS = ("postgres", "redis")
SLOW_REASON = "slow test: run with --run-slow or ARCHIPEL_RUN_SLOW=1"

_SKIPPED_SERVICE_TESTS = pytest.StashKey[list[str]]()

_S = TypeVar("_S")


def in_ci() -> bool:
    """Whether the session runs under CI (env ``CI`` set to a true value)."""
    return env_flag("CI")


def _run_slow(config: pytest.Config) -> bool:
    """Whether slow tests were asked for."""
    return bool(config.getoption("--run-slow")) or env_flag("ARCHIPEL_RUN_SLOW")


# --------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--run-slow``."""
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked 'slow' (same as ARCHIPEL_RUN_SLOW=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Prepare the list of skipped service tests."""
    config.stash[_SKIPPED_SERVICE_TESTS] = []


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which servers are available, and whether CI strictness is on."""
    bindir = find_postgres_bindir()
    redis = find_redis_server()
    return [
        f"archipel: postgres={bindir or 'missing'} redis-server={redis or 'missing'} "
        f"CI={'yes' if in_ci() else 'no'} slow={'run' if _run_slow(config) else 'skipped'}"
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests that use the server fixtures; skip ``slow`` tests unless asked for."""
    run_slow = _run_slow(config)
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & POSTGRES_FIXTURES and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)
        if fixtures & REDIS_FIXTURES and item.get_closest_marker("redis") is None:
            item.add_marker(pytest.mark.redis)
        if not run_slow and item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.skip(reason=SLOW_REASON))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Record skipped ``postgres``/``redis`` tests (slow ones excepted) for the CI check."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        markers = [name for name in SERVICE_MARKERS if item.get_closest_marker(name) is not None]
        slow_skip = item.get_closest_marker("slow") is not None and not _run_slow(item.config)
        if markers and not slow_skip:
            reason = (
                report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            )
            item.config.stash[_SKIPPED_SERVICE_TESTS].append(
                f"{item.nodeid} [{', '.join(markers)}]: {reason}"
            )
    return report


#: test modules skipped whole at collection (``pytest.importorskip``: a dependency missing)
_SKIPPED_MODULES: list[str] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Record a module skipped at collection: under CI that is a missing dev dependency."""
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED_MODULES.append(f"{report.nodeid} [module]: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI, fail a session in which a ``postgres``/``redis`` test or a module was skipped."""
    session.config.stash[_SKIPPED_SERVICE_TESTS] = [
        *session.config.stash.get(_SKIPPED_SERVICE_TESTS, []), *_SKIPPED_MODULES]
    if in_ci() and session.config.stash.get(_SKIPPED_SERVICE_TESTS, []):
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """List the skipped service tests (an error under CI, a note otherwise)."""
    skipped = config.stash.get(_SKIPPED_SERVICE_TESTS, [])
    if not skipped:
        return
    if in_ci():
        terminalreporter.section("service tests or modules skipped under CI (this fails the run)", red=True)
    else:
        terminalreporter.section("service tests or modules skipped (they would fail under CI)", yellow=True)
    for line in skipped:
        terminalreporter.write_line(line)


# --------------------------------------------------------------------------- fixtures


def _launch(factory: Callable[[], _S]) -> _S:
    """Start a server; skip the test if its binaries are missing (fail instead under CI)."""
    try:
        return factory()
    except ServerUnavailable as missing:
        if in_ci():
            pytest.fail(f"{missing} (CI is set: service tests must not be skipped)", pytrace=False)
        pytest.skip(str(missing))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (stopped and deleted at the end).

    Use its methods for fault tests: ``restart(mode="fast")``, ``stop(mode)``,
    ``start()``, ``kill()``, ``create_database()``, ``drop_database(name)``,
    ``connect(dbname)``, ``url(dbname)``, ``libpq_url(dbname)``.  A test that
    leaves it stopped must start it again.
    """
    server = _launch(PostgresServer.launch)
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of the session's test database (shared by all tests: clean up after you)."""
    return postgres_server.url()


@pytest.fixture(scope="module")
def postgres_db_url(
    postgres_server: PostgresServer, request: pytest.FixtureRequest
) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database for this test module, dropped afterwards."""
    prefix = "t_" + request.module.__name__.rpartition(".")[2]
    name = postgres_server.create_database(prefix=prefix)
    try:
        yield postgres_server.url(name)
    finally:
        if not postgres_server.running:
            postgres_server.start()
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server for the whole session (``save ""``, ``appendonly no``; killed at the end).

    Fault tests use ``restart(graceful=False)``, ``kill()``, ``stop()``,
    ``start()``; a test that leaves it stopped must start it again.  For other
    settings (e.g. AOF) start a dedicated one: ``RedisServer.launch(config={...})``
    and ``destroy()`` it.
    """
    server = _launch(RedisServer.launch)
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/0`` of the session's Redis server."""
    return redis_server.url()


@pytest.fixture
def redis_flushed_url(redis_server: RedisServer) -> str:
    """``redis_url``, with every database emptied before the test."""
    if not redis_server.running:
        redis_server.start()
    redis_server.flushall()
    return redis_server.url()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """A Redis Cluster (3 masters, 1 replica each) for the session, started by the first test using it.

    Fault tests use ``failover(master)``, ``master_nodes()`` and the nodes'
    ``kill()``/``start()``; a test that changes the topology must leave the
    cluster with 3 masters, each replicated (``wait_ok()``).
    """
    cluster = _launch(RedisClusterServers.launch)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisClusterServers) -> str:
    """``redis://`` URL of a node of the session's cluster, with every master emptied first."""
    redis_cluster.wait_ok()
    redis_cluster.flushall()
    return redis_cluster.url()


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """Commands run in-process (``archipel server --log-format ...``) configure the root
    logger; put it back after each test so that one test's logging never leaks into another."""
    import logging

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
