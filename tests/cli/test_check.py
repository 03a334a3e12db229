"""``archipel check`` (Protean's ``protean check``) and ``archipel db`` (Protean's name for
``archipel database``)."""

from __future__ import annotations

import json

from tests.cli.conftest import run_cli


def test_check_passes_a_sound_domain_and_fails_a_broken_one():
    sound = run_cli("check", "--domain", "sample_shelf")
    assert sound.returncode == 0, sound.stderr
    assert "CliShelf" in sound.stdout and "0 error(s)" in sound.stdout
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
