"""The engine-backed commands against the real engine (skipped while it is absent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from tests.cli.conftest import SAMPLE, cli_env, run_cli

pytest.importorskip("archipel.engine.status")
pytest.importorskip("archipel.engine.dlq")


def test_subscriptions_status_lists_every_handler():
    result = run_cli("subscriptions", "status", "--domain", "sample_shelf")
    assert result.returncode == 0, result.stderr
    for name in ("BookCommandHandler", "ShelfCountProjector", "ShelvingEventHandler"):
        assert name in result.stdout
    assert "inline" in result.stdout  # sync processing: nothing waits for a server


def test_dlq_list_on_the_in_memory_default():
    result = run_cli("dlq", "list", "--domain", "sample_shelf")
    assert result.returncode == 0, result.stderr
    assert "No dead letters" in result.stdout


def test_dlq_inspect_unknown_id():
    result = run_cli("dlq", "inspect", "nope", "--domain", "sample_shelf")
    assert result.returncode == 1
    assert "no dead letter with id 'nope'" in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM semantics")
def test_server_stops_cleanly_on_sigterm():
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "archipel", "server", "--domain", "sample_shelf"],
            cwd=SAMPLE, env=cli_env(), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            # the worker's start line comes after the stop signals are handled: a SIGTERM
            # before then (a slow start on a loaded machine) would kill the interpreter
            give_up = time.monotonic() + 60
            while b"subscription(s)" not in _read(log) and time.monotonic() < give_up:
                assert process.poll() is None, "server exited early: " + _read(log).decode(errors="replace")
                time.sleep(0.05)
            assert b"subscription(s)" in _read(log), "server never started"
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
        log.seek(0)
        output = log.read().decode(errors="replace")
    assert code == 0, output
    assert "Traceback" not in output


def _read(log) -> bytes:
    """What the server wrote so far, without moving the offset it shares with the server."""
    return os.pread(log.fileno(), os.fstat(log.fileno()).st_size, 0)


def test_server_test_mode_processes_what_is_pending_and_exits():
    result = run_cli("server", "--domain", "sample_shelf", "--test-mode", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "archipel server: domain CliShelf" in result.stderr


def test_dead_letters_from_a_real_failure_can_be_listed_inspected_replayed_and_purged(cli):
    import failing_shelf
    from failing_shelf.model import SendParcel

    from archipel.engine import run_server
    from archipel.engine.dlq import dead_letter_store

    domain = failing_shelf.domain
    domain.init()
    with domain.domain_context():
        domain.setup_database()
        domain.process(SendParcel(label="books"))
    try:
        assert run_server(domain, test_mode=True) == 0
        listed = cli("dlq", "list", "--domain", "failing_shelf")
        assert listed.code == 0, listed.err
        assert "RuntimeError: the courier is on strike" in listed.out
        assert "Traceback" not in listed.out  # the list shows the exception line only
        with domain.domain_context():
            (letter,) = dead_letter_store(domain).list()
        assert letter.id[:8] in listed.out  # the short id (any unique prefix is accepted)
        shown = cli("dlq", "inspect", letter.id, "--domain", "failing_shelf")
        assert shown.code == 0, shown.err
        assert '"label": "books"' in shown.out and "CliFailing.ParcelSent.v1" in shown.out
        status = cli("subscriptions", "status", "--domain", "failing_shelf")
        assert "failing" in status.out
        # the inline broker lives in the server's process: the CLI cannot reach its consumers
        refused = cli("dlq", "replay", letter.id, "--domain", "failing_shelf")
        assert refused.code == 1
        assert "not replayed" in refused.err and 'provider = "database"' in refused.err
        assert letter.id[:8] in cli("dlq", "list", "--domain", "failing_shelf").out  # kept
        with domain.domain_context():  # from the server's process it works
            assert dead_letter_store(domain).replay(letter.id) is True
        assert "No dead letters" in cli("dlq", "list", "--domain", "failing_shelf").out
        # the replayed message fails again once the server runs: purge it for good
        assert run_server(domain, test_mode=True) == 0
        purged = cli("dlq", "purge", "--all", "--yes", "--domain", "failing_shelf")
        assert "purged 1 dead letter" in purged.out
    finally:
        with domain.domain_context():
            domain.truncate_database()
