"""The CLI for scripts: ``--json`` in the observatory's shapes, exit codes, plain help,
``--version`` and shell completion."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import cli_env, run_cli

pytest.importorskip("archipel.engine.dlq")


def test_json_of_a_real_dead_letter_matches_the_observatory_api(cli):
    import failing_shelf
    from failing_shelf.model import SendParcel
    from starlette.testclient import TestClient

    from archipel.engine import run_server
    from archipel.observatory.app import create_app

    domain = failing_shelf.domain
    domain.init()
    with domain.domain_context():
        domain.setup_database()
        domain.process(SendParcel(label="books"))
    try:
        assert run_server(domain, test_mode=True) == 0
        listed = cli("dlq", "list", "--domain", "failing_shelf", "--json")
        assert listed.code == 0, listed.err
        body = json.loads(listed.out)
        assert body["total"] == 1 and body["domain"] == domain.name
        (letter,) = body["dead_letters"]
        assert letter["error_summary"] == "RuntimeError: the courier is on strike"
        assert body["groups"] == [
            {"group": letter["group"], "subscription": letter["subscription"],
             "error_summary": letter["error_summary"], "count": 1}
        ]
        full = json.loads(cli("dlq", "inspect", letter["id"], "--domain", "failing_shelf", "--json").out)
        assert full["payload"]["data"]["label"] == "books" and "Traceback" in full["error"]

        api = TestClient(create_app([domain]), base_url="http://127.0.0.1")
        from_api = api.get(f"/api/domains/{domain.name}/dead-letters").json()
        assert from_api["dead_letters"] == body["dead_letters"]
        assert api.get(f"/api/domains/{domain.name}/dead-letters/{letter['id']}").json() == full

        status = json.loads(cli("subscriptions", "status", "--domain", "failing_shelf", "--json").out)
        failing = [row for row in status["subscriptions"] if row["health"] == "failing"]
        assert [row["dlq_depth"] for row in failing] == [1]
        assert set(failing[0]) == {"name", "kind", "streams", "lag", "pending", "dlq_depth", "active", "health"}

        events = json.loads(cli("events", "list", "--domain", "failing_shelf", "--json").out)
        command = events["events"][0]
        assert command["kind"] == "command" and events["last_position"] == events["events"][-1]["position"]
        trace = json.loads(
            cli("events", "trace", command["correlation_id"], "--domain", "failing_shelf", "--json").out
        )
        assert trace["count"] == len(events["events"]) and trace["roots"][0]["id"] == command["id"]
    finally:
        from archipel.engine.dlq import dead_letter_store

        with domain.domain_context():
            dead_letter_store(domain).purge_all()
            domain.truncate_database()


def test_json_output_is_one_document_even_when_empty(cli):
    result = cli("dlq", "list", "--domain", "sample_shelf", "--json")
    assert result.code == 0
    assert json.loads(result.out) == {"domain": "CliShelf", "total": 0, "dead_letters": [], "groups": []}


def test_exit_codes_not_found_and_usage(cli):
    assert cli("dlq", "inspect", "nope", "--domain", "sample_shelf", "--json").code == 1
    assert cli("dlq", "list", "--domain", "sample_shelf", "--limit", "zero").code == 2
    assert cli("no-such-command").code == 2


def test_help_shows_no_type_noise(cli):
    for command in (["dlq", "purge"], ["server"], ["observatory"], []):
        text = cli(*command, "--help").out
        assert "<bool>" not in text and "<str>" not in text, command
    assert "Exit status: 0 ok, 1 not found or failed, 2 wrong usage" in cli("--help").out


def test_version_flag_and_completion_script():
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("archipel ")
    # the shell named, not detected from this test's parent processes (typer's own switch)
    completion = run_cli("--show-completion", "bash", env=cli_env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"))
    assert completion.returncode == 0 and "_archipel_completion" in completion.stdout.replace("-", "_").lower()
