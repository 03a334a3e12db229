"""``archipel server --reload`` (Protean's): a changed source file restarts the server.

The domain module appends ``<pid> <VERSION>`` to ``started.txt`` each time a
server imports it; the tests edit it and watch new servers start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import cli_env

pytest.importorskip("watchfiles", reason="the reload extra installs watchfiles")

DOMAIN = '''
import os

from archipel import BaseAggregate, Domain
from archipel.fields import String

VERSION = {version}
with open("started.txt", "a") as log:
    log.write(f"{{os.getpid()}} {{VERSION}}\\n")

domain = Domain(name="Reloaded")


@domain.aggregate
class Note(BaseAggregate):
    text = String()
'''


def starts(folder: Path) -> list[tuple[int, int]]:
    log = folder / "started.txt"
    if not log.exists():
        return []
    return [(int(pid), int(version)) for pid, version in
            (line.split() for line in log.read_text().splitlines() if line.strip())]


def wait_for(condition, what: str) -> None:
    """Poll until ``condition()``; a hang guard (60 s), not a timing assertion."""
    give_up = time.monotonic() + 60
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def serve(folder: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "archipel", "server", "--domain", "domain", "--reload", *extra],
        cwd=folder, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_an_edit_restarts_the_server_with_the_new_code_and_sigterm_stops_both(tmp_path):
    (tmp_path / "domain.py").write_text(DOMAIN.format(version=1))
    reloader = serve(tmp_path)
    try:
        wait_for(lambda: len(starts(tmp_path)) == 1, "the first server")
        (tmp_path / "domain.py").write_text(DOMAIN.format(version=2))
        wait_for(lambda: len(starts(tmp_path)) == 2, "the restarted server")
        (first, v1), (second, v2) = starts(tmp_path)
        assert (v1, v2) == (1, 2) and first != second
        wait_for(lambda: not alive(first), "the first server to exit")
        (tmp_path / "notes.txt").write_text("not a source file")
        (tmp_path / "domain.toml").write_text('[custom]\nflavour = "plain"\n')
        wait_for(lambda: len(starts(tmp_path)) == 3, "a restart for domain.toml")
        assert [v for _, v in starts(tmp_path)] == [1, 2, 2]  # notes.txt restarted nothing
        reloader.send_signal(signal.SIGTERM)
        output, _ = reloader.communicate(timeout=60)
    finally:
        if reloader.poll() is None:
            reloader.kill()
    assert reloader.returncode == 0, output
    assert "domain.py changed; restarting" in output
    assert not any(alive(pid) for pid, _ in starts(tmp_path))


def test_with_test_mode_the_reloader_ends_with_its_server(tmp_path):
    (tmp_path / "domain.py").write_text(DOMAIN.format(version=1))
    reloader = serve(tmp_path, "--test-mode")
    output, _ = reloader.communicate(timeout=120)
    assert reloader.returncode == 0, output
    assert len(starts(tmp_path)) == 1


def test_reload_takes_one_worker(tmp_path):
    (tmp_path / "domain.py").write_text(DOMAIN.format(version=1))
    result = subprocess.run(
        [sys.executable, "-m", "archipel", "server", "--domain", "domain", "--reload", "--workers", "2"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "--reload runs one worker" in result.stderr
    assert not starts(tmp_path)
