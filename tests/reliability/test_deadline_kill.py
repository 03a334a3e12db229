"""A deadline whose firing process is killed with SIGKILL fires once, after the restart."""

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


def _run(path: Path, action: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.deadline_victim", str(path), action],
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
