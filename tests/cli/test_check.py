"""``archipel check`` (Protean's ``protean check``) and ``archipel db`` (Protean's name for
``archipel database``)."""

from __future__ import annotations

import json

from tests.cli.conftest import run_cli


def test_check_passes_a_sound_domain_and_fails_a_broken_one():
    sound = run_cli("check", "--domain", "sample_shelf")
    # no error, but warnings (events nobody handles): they fail at Protean's default floor
    assert sound.returncode == 1, sound.stderr
    assert "CliShelf: warn" in sound.stdout and "0 error(s)" in sound.stdout
    floor = run_cli("check", "--domain", "lint_floor")  # [lint] level = "error"
    assert floor.returncode == 0, floor.stdout + floor.stderr
    assert "LintFloor: warn" in floor.stdout
    broken = run_cli("check", "--domain", "unrouted")
    assert broken.returncode == 1
    assert "error" in broken.stdout and "Board" in broken.stdout and "projection" in broken.stdout
    assert "Traceback" not in broken.stderr + broken.stdout


def test_check_reports_as_json_and_filters_by_level():
    result = run_cli("check", "--domain", "unrouted", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["status"] == "fail" and report["counts"]["errors"] == 1
    assert report["errors"][0]["element"] == "routing"
    quiet = run_cli("check", "--domain", "unrouted", "--quiet")
    assert quiet.returncode == 1 and quiet.stdout.count("\n") == 1
    wrong = run_cli("check", "--domain", "unrouted", "--level", "loud")
    assert wrong.returncode == 2 and "loud" in wrong.stderr


def test_db_is_protean_s_name_for_database():
    result = run_cli("db", "setup", "--domain", "sample_shelf")
    assert result.returncode == 0, result.stderr
    assert "set up" in result.stdout


def test_check_as_sarif_locates_each_finding_in_its_file():
    result = run_cli("check", "--domain", "incomplete", "--format", "sarif", "--level", "error")
    assert result.returncode == 1, result.stderr  # warnings fail at the default [lint] floor
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    assert run["tool"]["driver"]["name"] == "archipel"
    assert {rule["id"] for rule in run["tool"]["driver"]["rules"]} == {
        "UNUSED_COMMAND", "UNHANDLED_EVENT", "AGGREGATE_WITHOUT_COMMAND_HANDLER", "AGGREGATE_NO_INVARIANTS",
        "UNRAISED_EVENT"}  # read from incomplete.py: no method of Ticket raises Opened
    # every finding, whatever --level shows
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["UNUSED_COMMAND"]["level"] == "warning"
    assert "Open" in by_rule["UNUSED_COMMAND"]["message"]["text"]
    location = by_rule["UNUSED_COMMAND"]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "incomplete.py"  # relative to the working directory
    assert location["region"]["startLine"] > 1
    broken = json.loads(run_cli("check", "--domain", "unrouted", "-f", "sarif").stdout)
    (error,) = broken["runs"][0]["results"]
    assert error["level"] == "error" and error["locations"] == [] and "Board" in error["message"]["text"]


def test_check_as_github_annotations_and_protean_s_json_envelope():
    from tests.cli.conftest import SAMPLE, cli_env

    env = {**cli_env(), "GITHUB_WORKSPACE": str(SAMPLE.parent)}
    result = run_cli("check", "--domain", "incomplete", "--format", "github-annotations", env=env)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert sum(line.startswith(f"::warning file={SAMPLE.name}/incomplete.py,line=") for line in lines) == 3
    assert sum(line.startswith(f"::notice file={SAMPLE.name}/incomplete.py,line=") for line in lines) == 2
    assert any("::[UNUSED_COMMAND] incomplete.Open: " in line for line in lines)
    broken = run_cli("check", "--domain", "unrouted", "-f", "github-annotations")
    assert broken.returncode == 1
    assert broken.stdout.startswith("::error::[ConfigurationError] routing: projector Board")
    envelope = json.loads(run_cli("check", "--domain", "unrouted", "--format", "json").stdout)
    assert envelope["status"] == "fail" and envelope["version"]
    assert envelope["data"]["counts"]["errors"] == 1 and envelope["diagnostics"] == []
    warned = json.loads(run_cli("check", "--domain", "incomplete", "--format", "json").stdout)
    assert warned["status"] == "fail" and len(warned["diagnostics"]) == 5
    passing = json.loads(run_cli("check", "--domain", "lint_floor", "--format", "json").stdout)
    assert passing["status"] == "pass" and len(passing["diagnostics"]) == 5  # UNRAISED_EVENT too
    for wrong in (("--format", "xml"), ("--format", "sarif", "--json")):
        refused = run_cli("check", "--domain", "incomplete", *wrong)
        assert refused.returncode == 2 and "--" in refused.stderr


def test_a_malformed_lint_table_exits_2_naming_the_key():
    result = run_cli("check", "--domain", "lint_broken")
    assert result.returncode == 2
    assert "Invalid [lint].level: 'loud'" in result.stderr and "Traceback" not in result.stderr
