"""``archipel server`` and ``archipel observatory`` started before PostgreSQL: they wait, then work.

The session's PostgreSQL is stopped, the command started, and only once it
says what it waits for is PostgreSQL started again: the server then handles
what was pending; the observatory answers. A SIGTERM while waiting ends
either cleanly (status 0, no traceback).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._servers import free_port
from tests.cli.conftest import SAMPLE, cli_env, run_cli

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGTERM semantics")

WAITING = "waiting for the database"


class Command:
    """An ``archipel`` subprocess whose output goes to a file we can poll."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "archipel", *args], cwd=SAMPLE, env=env,
            stdout=self._file, stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process.poll() is None, f"exited early:\n{self.output()}"
            if time.monotonic() > deadline:  # a give-up guard, not a timing goal
                pytest.fail(f"never printed {text!r}:\n{self.output()}")
            time.sleep(0.1)

    def finish(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._file.close()


@pytest.fixture
def shelf(postgres_server: Any, postgres_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The durable shelf on a fresh PostgreSQL database (the database broker), set up."""
    monkeypatch.syspath_prepend(str(SAMPLE))
    import durable_shelf

    fixed = tmp_path / "fixed"
    fixed.touch()
    url = postgres_db_url.replace("postgresql+psycopg://", "postgresql://")
    env = cli_env(DURABLE_SHELF_DB=url, DURABLE_SHELF_BROKER="database", DURABLE_SHELF_FIXED=str(fixed))
    assert run_cli("database", "setup", "--domain", "durable_shelf", env=env).returncode == 0
    domain = durable_shelf.build(url, "database", str(fixed))
    domain.init()
    yield {"domain": domain, "env": env, "server": postgres_server, "tmp": tmp_path}
    if not postgres_server.running:
        postgres_server.start()
    domain.shutdown()
    sys.modules.pop("durable_shelf", None)


def _deliveries(domain: Any) -> int:
    delivery = domain.elements["Delivery"]
    with domain.domain_context():
        return len(domain.repository_for(delivery).query.all().items)


def test_the_server_waits_for_postgresql_then_handles_what_is_pending(shelf: dict[str, Any]) -> None:
    domain, server = shelf["domain"], shelf["server"]
    with domain.domain_context():
        domain.process(domain.elements["SendParcel"](label="books"))
    domain.shutdown()  # no pooled connection survives the restart
    server.stop()
    try:
        command = Command(["server", "--domain", "durable_shelf", "--test-mode"], shelf["env"], shelf["tmp"] / "s.log")
        command.wait_for_output(WAITING)
    finally:
        server.start()
    assert command.finish() == 0, command.output()
    assert "Traceback" not in command.output()
    domain.init()
    assert _deliveries(domain) == 1


def test_sigterm_while_waiting_exits_cleanly(shelf: dict[str, Any]) -> None:
    shelf["domain"].shutdown()
    shelf["server"].stop()
    port = free_port()
    commands = [
        Command(["server", "--domain", "durable_shelf"], shelf["env"], shelf["tmp"] / "server.log"),
        Command(["observatory", "--domain", "durable_shelf", "--port", str(port)], shelf["env"], shelf["tmp"] / "obs.log"),
    ]
    for command in commands:
        command.wait_for_output(WAITING)
        command.process.send_signal(signal.SIGTERM)
        assert command.finish(30) == 0, command.output()
        assert "Traceback" not in command.output()


def test_the_observatory_waits_for_postgresql_then_serves(shelf: dict[str, Any]) -> None:
    shelf["domain"].shutdown()
    server = shelf["server"]
    server.stop()
    port = free_port()
    command = Command(["observatory", "--domain", "durable_shelf", "--port", str(port)], shelf["env"], shelf["tmp"] / "o.log")
    try:
        try:
            command.wait_for_output(WAITING)
        finally:
            server.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    assert b"CliDurable" in response.read()
                    break
            except OSError:
                assert command.process.poll() is None, command.output()
                if time.monotonic() > deadline:  # a give-up guard, not a timing goal
                    pytest.fail(f"the observatory never answered:\n{command.output()}")
                time.sleep(0.2)
    finally:
        command.process.terminate()
        assert command.finish(30) == 0, command.output()
