"""``archipel verify``: init + check + the project's tests, one verdict and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli.conftest import cli_env

DOMAIN = '''
from archipel import BaseAggregate, BaseCommand, BaseCommandHandler, Domain, handle, invariant
from archipel.fields import String

domain = Domain(name="Verified"{config})


@domain.aggregate
class Note(BaseAggregate):
    text = String()

    @invariant.post
    def short(self):
        pass


@domain.command(part_of=Note)
class CreateNote(BaseCommand):
    text = String()


@domain.command_handler(part_of=Note)
class Notes(BaseCommandHandler):
    @handle(CreateNote)
    def create(self, command):
        pass
{extra}
'''
UNHANDLED = '''

@domain.command(part_of=Note)
class Forgotten(BaseCommand):
    text = String()
'''
INFO_ONLY = '''

@domain.command(part_of=Note)
class NoteCreation(BaseCommand):  # not an imperative name: an info finding
    text = String()


@domain.command_handler(part_of=Note)
class MoreNotes(BaseCommandHandler):
    @handle(NoteCreation)
    def create(self, command):
        pass
'''
TEST = '''
import os

from app.domain import domain


def test_the_domain_initialises():
    domain.init(traverse=False)
    assert os.environ["ARCHIPEL_ENV"] == os.environ["PROTEAN_ENV"] == "{env}"
{more}
'''


def _project(root: Path, *, extra: str = "", config: str = "", failing: bool = False, env: str = "test") -> Path:
    (root / "src" / "app").mkdir(parents=True)
    (root / "src" / "app" / "__init__.py").write_text("")
    (root / "src" / "app" / "domain.py").write_text(textwrap.dedent(DOMAIN.format(config=config, extra=extra)))
    (root / "tests").mkdir()
    more = "\n\ndef test_broken():\n    assert 1 == 2\n" if failing else ""
    (root / "tests" / "test_app.py").write_text(textwrap.dedent(TEST.format(env=env, more=more)))
    return root


def _verify(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(ARCHIPEL_ENV=None, PROTEAN_ENV=None)
    return subprocess.run([sys.executable, "-m", "archipel", "verify", "--domain", "src/app", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


def _report(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout)


def test_a_healthy_project_passes(tmp_path):
    result = _verify(_project(tmp_path), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = _report(result)
    assert report["status"] == "pass" and report["data"]["verdict"] == "pass"
    stages = report["data"]["stages"]
    assert [stages[s]["status"] for s in ("init", "check", "tests")] == ["pass", "pass", "pass"]
    assert stages["tests"]["passed"] == 1 and stages["tests"]["failed"] == 0
    human = _verify(tmp_path)
    assert human.returncode == 0 and "Overall: PASS" in human.stdout


def test_the_environment_reaches_every_stage(tmp_path):
    result = _verify(_project(tmp_path, env="staging"), "--env", "staging", "--json")
    assert result.returncode == 0, result.stdout
    assert _verify(tmp_path, "--json").returncode == 5  # the test expects staging: tests fail


def test_a_failing_test_fails_the_tests_stage(tmp_path):
    result = _verify(_project(tmp_path, failing=True), "--json")
    assert result.returncode == 5  # Protean's status of failed tests
    tests = _report(result)["data"]["stages"]["tests"]
    assert tests["status"] == "fail" and (tests["passed"], tests["failed"]) == (1, 1)
    human = _verify(tmp_path)
    assert "test_broken" in human.stdout and "Overall: FAIL" in human.stdout


def test_a_check_warning_fails_the_check_stage_and_tests_still_run(tmp_path):
    result = _verify(_project(tmp_path, extra=UNHANDLED), "--json")
    assert result.returncode == 4  # Protean's status of a failed check (before the tests')
    report = _report(result)
    stages = report["data"]["stages"]
    assert stages["check"]["status"] == "fail" and stages["check"]["counts"]["warnings"] >= 1
    assert stages["tests"]["status"] == "pass"
    assert any("Forgotten" in str(d) for d in report["diagnostics"])


@pytest.mark.parametrize(
    ("level", "extra", "status"),
    [
        ("error", UNHANDLED, 0),  # a warning does not gate at the "error" floor
        ("warn", INFO_ONLY, 0),  # an info finding does not gate at the default floor...
        ("info", INFO_ONLY, 4),  # ...and does at "info"
        ("loud", "", 4),  # a malformed [lint] fails the check stage
    ],
)
def test_the_check_stage_honours_the_lint_floor(tmp_path, level, extra, status):
    config = f', config={{"lint": {{"level": "{level}"}}}}'
    result = _verify(_project(tmp_path, extra=extra, config=config), "--json")
    assert result.returncode == status, result.stdout + result.stderr


def test_an_init_failure_skips_the_other_stages(tmp_path):
    config = ', config={"databases": {"default": {"provider": "no-such-db"}}}'
    result = _verify(_project(tmp_path, config=config), "--json")
    assert result.returncode == 3  # Protean's status of a failed init
    stages = _report(result)["data"]["stages"]
    assert stages["init"]["status"] == "fail" and "no-such-db" in stages["init"]["error"]
    assert stages["check"]["status"] == stages["tests"]["status"] == "skipped"


@pytest.mark.parametrize(("args", "message"), [
    (("--path", "nowhere"), "--path is not a folder"),
    (("--env", "  "), "--env must not be blank"),
    (("--domain", "no_such_module"), "no_such_module"),
])
def test_usage_errors_exit_2_with_an_error_envelope(tmp_path, args, message):
    result = _verify(_project(tmp_path), *args, "--json")
    assert result.returncode == 2 and message in result.stderr
    assert _report(result)["status"] == "error"
