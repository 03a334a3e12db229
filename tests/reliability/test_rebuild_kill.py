"""A projection rebuild killed with SIGKILL midway: status says so, running it again is exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archipel.handling.rebuild import rebuild_records
from tests.reliability.rebuild_victim import build

ROOT = Path(__file__).resolve().parents[2]


def _run(path: Path, events: int, action: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.rebuild_victim", str(path), str(events), action],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.slow
def test_a_rebuild_killed_midway_is_reported_and_a_second_one_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "victim.db"
    events = 1400
    assert _run(path, events, "populate").wait(timeout=120) == 0
    victim = _run(path, events, "rebuild")
    domain, _, _, totals = build(str(path))
    try:
        with domain.domain_context():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # wait until some batches are committed
                record = rebuild_records(domain).get("Totals") or {}
                if record.get("state") == "rebuilding" and domain.query_for(totals).count() == 7:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the rebuild never got going")
            time.sleep(0.3)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            record = rebuild_records(domain)["Totals"]
            assert record["state"] == "rebuilding"  # what `projection status` reports as interrupted
            partial = sum(row.count for row in domain.query_for(totals).all().items)
            assert 0 < partial < events
            result = domain.rebuild_projection(totals)
            assert result.events_dispatched == events
            counts = {row.group_id: row.count for row in domain.query_for(totals).all().items}
            assert counts == {str(g): len(range(g, events, 7)) for g in range(7)}
            assert rebuild_records(domain)["Totals"]["state"] == "done"
    finally:
        if victim.poll() is None:
            victim.kill()
        domain.shutdown()
