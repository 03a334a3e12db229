"""``archipel observatory``: where it listens, warnings, a real server that stops on SIGTERM."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

import pytest

from archipel.cli.observatory import is_loopback
from tests.cli.conftest import SAMPLE, cli_env


@pytest.fixture
def served(cli, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls to uvicorn.run, which is replaced so nothing listens."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append({"app": app, **options}))
    return calls


def test_binds_loopback_by_default(cli, served):
    result = cli("observatory", "--domain", "sample_shelf", "--port", "0")
    assert result.code == 0, result.err
    assert served[0]["host"] == "127.0.0.1"
    assert served[0]["port"] == 0
    assert "Warning" not in result.err
    assert "CliShelf" in result.err and "http://127.0.0.1:0/" in result.err


def test_warns_when_exposed(cli, served):
    result = cli("observatory", "--domain", "sample_shelf", "--host", "0.0.0.0", "--port", "0")
    assert result.code == 0, result.err
    assert served[0]["host"] == "0.0.0.0"
    assert "Warning" in result.err and "reachable from other machines" in result.err
    assert "http://127.0.0.1:0/" in result.err  # a URL a browser on this machine can open


def test_several_domains_and_duplicates(cli, served):
    result = cli("observatory", "-d", "sample_shelf", "-d", "preferred", "-d", "sample_shelf", "--port", "0")
    assert result.code == 0, result.err
    observatory = served[0]["app"].state.observatory
    assert [w.name for w in observatory.watches] == ["CliShelf", "CliPreferred"]


def test_taken_port_is_a_clean_error(cli, served):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("observatory", "--domain", "sample_shelf", "--port", str(port))
    assert result.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.err
    assert not served


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("192.168.1.4", False), ("example.org", False)],
)
def test_is_loopback(host: str, loopback: bool):
    assert is_loopback(host) is loopback


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM semantics")
def test_serves_the_dashboard_and_stops_on_sigterm():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "archipel", "observatory", "--domain", "sample_shelf", "--port", str(port)],
            cwd=SAMPLE, env=cli_env(), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            for attempt in range(150):  # up to ~30 s of 0.2 s tries
                assert process.poll() is None, "observatory exited early"
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                        assert b"CliShelf" in response.read()
                        break
                except OSError:
                    assert attempt < 149, "observatory did not answer"
                    time.sleep(0.2)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                assert response.status == 200
        finally:
            process.terminate()
            code = process.wait(timeout=30)
        log.seek(0)
        assert code == 0, log.read().decode(errors="replace")
