"""A projection rebuilt while ``archipel server`` (two worker processes) delivers to it.

Commands keep flowing before, during and after the rebuild. The rebuild
holds live delivery to the projector off (it takes the subscription's
partition leases from the workers); once the server has drained, every event
was applied exactly once (the projector counts applications per event) and
the rows equal a clean rebuild from the event store. A rebuild killed with
SIGKILL leaves its leases to expire: live delivery resumes, and running the
rebuild again gives the clean rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archipel.engine.leases import LeaseStore
from archipel.engine.rebuild_hold import REBUILD_OWNER
from archipel.engine.subscriptions import all_subscriptions
from archipel.handling.rebuild import rebuild_records
from tests.reliability.rebuild_live_app import LEASE_SECONDS, build

ROOT = Path(__file__).resolve().parents[2]


def _spawn(database: str, broker: str, action: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.rebuild_live_app", database, broker, action],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: close() ends the forked workers too
        )


class Live:
    """The domain seen from the test process: sends commands, reads the projection."""

    def __init__(self, database: str, broker: str, logdir: Path) -> None:
        self.database, self.broker, self.logdir = database, broker, logdir
        self.domain, self.tick, self.applied = build(database, broker)
        with self.domain.domain_context():
            self.domain.setup_database()
        self.issued: list[str] = []
        projector = next(s for s in all_subscriptions(self.domain) if s.kind == "projector")
        self.scope = f"{self.domain.snake_name}/partition/{projector.name}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, action: str) -> subprocess.Popen[bytes]:
        proc = _spawn(self.database, self.broker, action, self.logdir / f"{action}-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.logdir.glob("*.log")))

    def send(self, count: int) -> None:
        with self.domain.domain_context():
            for _ in range(count):
                key = f"k{len(self.issued)}"
                self.domain.process(self.tick(key=key))
                self.issued.append(key)

    def rows(self) -> dict[str, int]:
        with self.domain.domain_context():
            return {str(row.key): int(row.times) for row in self.domain.query_for(self.applied).all().items}

    def held_by_rebuild(self) -> bool:
        """Every partition lease of the projector is held by a rebuild."""
        with self.domain.domain_context():
            owners = [str(r["owner"]) for r in LeaseStore(self.domain).live(self.scope)]
        return len(owners) == 4 and all(o.startswith(REBUILD_OWNER) for o in owners)

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        pytest.fail(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")

    def drained(self) -> bool:
        """Every command sent has its event applied (at least once)."""
        return set(self.rows()) >= set(self.issued)

    def stop_server(self, server: subprocess.Popen[bytes]) -> None:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0, self.logs()

    def assert_exactly_once_and_clean(self) -> None:
        """Each event applied once; the rows equal a clean rebuild from the event store."""
        rows = self.rows()
        twice = {k: n for k, n in rows.items() if n != 1}
        missing = set(self.issued) - set(rows)
        assert not twice and not missing, f"applied more than once: {twice}; never applied: {missing}"
        assert rows == dict.fromkeys(self.issued, 1)
        with self.domain.domain_context():
            result = self.domain.rebuild_projection(self.applied)
        assert result.events_dispatched == len(self.issued)
        assert self.rows() == rows

    def close(self) -> None:
        for proc in self.procs:
            try:  # the server's forked workers too (a supervisor killed alone leaves them running)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.domain.shutdown()


@pytest.fixture(params=[
    "sqlite",
    pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]),
])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    """SQLite with the database broker, or PostgreSQL (a fresh database) with Redis."""
    created = None
    if request.param == "sqlite":
        database, broker = str(tmp_path / "live.db"), "database"
    else:
        postgres: Any = request.getfixturevalue("postgres_server")
        broker = str(request.getfixturevalue("redis_flushed_url"))
        created = postgres.create_database(prefix="rebuild_live")
        database = postgres.url(created)
    found = Live(database, broker, tmp_path)
    try:
        yield found
    finally:
        found.close()
        if created is not None:
            postgres.drop_database(created)


def test_a_rebuild_while_the_server_runs_loses_no_event_and_applies_none_twice(live: Live) -> None:
    server = live.spawn("serve")
    live.send(150)
    live.wait_for(live.drained, "the server to apply the first events")
    rebuild = live.spawn("rebuild")
    held = False
    while rebuild.poll() is None:  # commands keep flowing while it rebuilds
        live.send(2)
        held = held or live.held_by_rebuild()
        time.sleep(0.05)
    assert rebuild.returncode == 0, live.logs()
    assert held, "the rebuild never held the projector's partitions"
    live.send(20)
    live.wait_for(live.drained, "the server to apply what was sent during and after the rebuild")
    live.stop_server(server)
    live.assert_exactly_once_and_clean()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_a_rebuild_killed_while_the_server_runs_lets_delivery_resume_and_a_rerun_is_exact(
    postgres_server: Any, redis_flushed_url: str, tmp_path: Path
) -> None:
    created = postgres_server.create_database(prefix="rebuild_kill_live")
    live = Live(postgres_server.url(created), redis_flushed_url, tmp_path)
    try:
        server = live.spawn("serve")
        live.send(400)
        live.wait_for(live.drained, "the server to apply the first events")
        rebuild = live.spawn("rebuild")

        def midway() -> bool:
            with live.domain.domain_context():
                state = (rebuild_records(live.domain).get("Applied") or {}).get("state")
            return state == "rebuilding" and live.held_by_rebuild() and 0 < len(live.rows()) < 300

        live.wait_for(midway, "the rebuild to get going", timeout=120)
        rebuild.send_signal(signal.SIGKILL)
        rebuild.wait(timeout=30)
        with live.domain.domain_context():
            assert rebuild_records(live.domain)["Applied"]["state"] == "rebuilding"  # interrupted
        sent = len(live.issued)
        live.send(10)
        fresh = set(live.issued[sent:])
        # its leases expire after lease_seconds: the workers take the partitions back
        live.wait_for(lambda: not live.held_by_rebuild(), "the killed rebuild's leases to expire",
                      timeout=30 * LEASE_SECONDS)
        live.wait_for(lambda: fresh <= set(live.rows()), "live delivery to resume")
        with live.domain.domain_context():  # run again, while the server runs and commands flow
            live.domain.rebuild_projection(live.applied)
        live.send(10)
        live.wait_for(live.drained, "the server to apply everything")
        live.stop_server(server)
        live.assert_exactly_once_and_clean()
    finally:
        live.close()
        postgres_server.drop_database(created)
