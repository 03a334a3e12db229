"""Deadlines whose firing process is killed with SIGKILL fire once, after the restart.

Two scenarios: one deadline, the process killed inside its handler (SQLite); and
``archipel server``'s engine killed while firing a burst of deadlines, on SQLite and
PostgreSQL, then restarted: at the kill, every deadline is either fired with its
instance's state committed or still pending (never one without the other), and after
the restart each fired exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from archipel.handling.deadlines import pending_deadlines
from tests.reliability.deadline_victim import build

ROOT = Path(__file__).resolve().parents[2]


def _run(path: Path | str, action: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.deadline_victim", str(path), action, *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.slow
def test_a_deadline_killed_while_firing_fires_once_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "deadline.db"
    populate = _run(path, "populate")
    assert populate.wait(timeout=120) == 0, populate.stderr.read() if populate.stderr else ""
    victim = _run(path, "fire-slowly")
    try:
        assert victim.stdout is not None
        assert victim.stdout.readline().strip() == "firing"  # inside the handler, before the commit
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    domain, _, _, watch = build(str(path))
    try:
        with domain.domain_context():
            assert len(pending_deadlines(domain)) == 1  # the kill lost nothing
            assert domain.repository_for(watch).get("o1").fired == 0
            assert domain.fire_due_deadlines() == 1
            assert domain.fire_due_deadlines() == 0
            assert domain.repository_for(watch).get("o1").fired == 1
            assert pending_deadlines(domain) == []
    finally:
        domain.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_server_killed_while_firing_a_burst_fires_each_deadline_once_after_restart(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from archipel.handling.deadline_status import deadline_status

    uri = str(tmp_path / "burst.db") if database == "sqlite" else str(request.getfixturevalue("postgres_db_url"))
    orders = 60
    populate = _run(uri, "populate-many", str(orders))
    assert populate.wait(timeout=120) == 0, populate.stderr.read() if populate.stderr else ""
    server = _run(uri, "serve")
    try:
        assert server.stdout is not None
        for _ in range(20):  # the engine is firing: kill it mid-burst
            line = server.stdout.readline()
            assert line.startswith("fired o"), line + (server.stderr.read() if server.stderr else "")
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    domain, _, _, watch = build(uri)
    try:
        with domain.domain_context():
            (counts,) = deadline_status(domain)["process_managers"]
            states = [w.fired for w in domain.repository_for(watch).all().items]
            # each deadline fired with its instance's new state, or neither: nothing half done
            assert len(states) == orders and set(states) <= {0, 1}
            assert counts["fired"] == sum(states) >= 19 and counts["pending"] == orders - sum(states)
        restart = _run(uri, "drain")
        assert restart.wait(timeout=120) == 0, restart.stderr.read() if restart.stderr else ""
        with domain.domain_context():
            assert [w.fired for w in domain.repository_for(watch).all().items] == [1] * orders
            (counts,) = deadline_status(domain)["process_managers"]
            assert (counts["pending"], counts["fired"], counts["failed"]) == (0, orders, 0)
    finally:
        domain.shutdown()
