"""``archipel verify``: init + check + the project's tests, one verdict (Protean's command).

1. **init**: import the domain (``--domain`` as every command takes it) and
   ``Domain.init()`` it;
2. **check**: ``Domain.check()`` — an error, or a finding at the ``[lint].level`` floor
   (default ``warn``: warnings fail, info does not), or a malformed ``[lint]``, fails the stage
   (Protean's default ``[lint] level = "warn"``; archipel does not read ``[lint]``);
3. **tests**: ``python -m pytest`` in ``--path`` (with ``<path>/src`` on
   ``PYTHONPATH``); no test collected counts as a pass, as in Protean.

All three run under the environment ``--env`` (default ``test``):
``ARCHIPEL_ENV`` and ``PROTEAN_ENV`` are set to it before the domain is
imported and for the pytest process, then put back. Tests run even when check
failed, so the report has every stage.

Exit status is Protean's, so ported CI scripts read it the same: 0 every stage
passed; 3 init failed; 4 check failed; 5 the tests failed (check before tests
when both did; ``--json`` has every stage); 2 wrong usage (``--path`` not a
folder, a blank ``--env``, no domain found or not importable). ``--json`` prints Protean's envelope ``{"version", "status":
pass|fail|error, "data": {"verdict", "stages": {"init", "check", "tests"}},
"diagnostics"}``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape

from archipel.cli._console import CliError, UsageError, err, out
from archipel.cli._domain import DomainOption, find_domain, resolve_spec
from archipel.cli._json import JsonOption, print_json
from archipel.cli.check_formats import ENVELOPE_VERSION
from archipel.domain.lint_config import gates, lint_table

__all__ = ["run_verify", "verify"]

_STAGES = ("init", "check", "tests")
_ENV_VARS = ("ARCHIPEL_ENV", "PROTEAN_ENV")
#: pytest's status when it collected no test
_NO_TESTS = 5
_SUMMARY = re.compile(r"^=*\s*(?P<body>\d+ [a-z]+(?:, \d+ [a-z]+)*|no tests ran) in [\d.]+s.*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextmanager
def _environment(name: str) -> Iterator[None]:
    previous = {var: os.environ.get(var) for var in _ENV_VARS}
    os.environ.update({var: name for var in _ENV_VARS})
    try:
        yield
    finally:
        for var, value in previous.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _counts(output: str) -> tuple[int, int]:
    """``(passed, failed)`` from pytest's summary line (0, 0 when there is none)."""
    for line in reversed(output.splitlines()):
        found = _SUMMARY.match(_ANSI.sub("", line).strip())
        if found:
            body = found.group("body")
            passed = re.search(r"(\d+) passed", body)
            failed = re.search(r"(\d+) failed", body)
            return int(passed.group(1)) if passed else 0, int(failed.group(1)) if failed else 0
    return 0, 0


def _run_tests(path: str, env_name: str) -> tuple[dict[str, Any], str]:
    child = dict(os.environ)
    child.pop("VIRTUAL_ENV", None)
    child.pop("ARCHIPEL_DEBUG", None)
    child.update({var: env_name for var in _ENV_VARS})
    src = os.path.join(path, "src")
    if os.path.isdir(src):
        child["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.abspath(src), child.get("PYTHONPATH")) if p)
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "pytest", "--verbosity=-1"],
        cwd=path, capture_output=True, text=True, errors="replace", env=child, check=False,
    )
    passed, failed = _counts(done.stdout)
    status = "pass" if done.returncode in (0, _NO_TESTS) else "fail"
    stage = {"status": status, "returncode": done.returncode, "passed": passed, "failed": failed}
    return stage, done.stdout + done.stderr


def run_verify(spec: str | None, path: str, env_name: str) -> tuple[dict[str, dict[str, Any]], str, list[Any]]:
    """Run the three stages: ``(stages, pytest output, check diagnostics)``.

    Raises :class:`UsageError` (or the loader's exit-2 :class:`CliError`) for wrong usage.
    """
    if not os.path.isdir(path):
        raise UsageError(f"--path is not a folder: {path}", hint="give the project folder")
    env_name = env_name.strip()
    if not env_name:
        raise UsageError("--env must not be blank", hint="e.g. --env test")
    stages: dict[str, dict[str, Any]] = {stage: {"status": "skipped"} for stage in _STAGES}
    diagnostics: list[Any] = []
    with _environment(env_name):
        domain = find_domain(resolve_spec(spec))  # not found / not importable: exit 2
        try:
            domain.init(traverse=True)
        except Exception as exc:  # noqa: BLE001 - the user's domain may raise anything
            stages["init"] = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"}
            return stages, "", diagnostics
        stages["init"] = {"status": "pass", "error": None}
        try:
            report = domain.check(traverse=True)
        except Exception as exc:  # noqa: BLE001
            stages["check"] = {"status": "fail", "counts": {"errors": 1, "warnings": 0, "infos": 0},
                               "errors": [{"code": "CHECK_FAILED", "message": str(exc)}], "diagnostics": []}
        else:
            counts = report["counts"]
            failed = gates(report, lint_table(domain.config).get("level", "warn"))
            diagnostics = report["diagnostics"]
            stages["check"] = {"status": "fail" if failed else "pass", "counts": counts,
                               "errors": report["errors"], "diagnostics": diagnostics}
        stages["tests"], output = _run_tests(path, env_name)
    return stages, output, diagnostics


def _detail(stage: str, data: dict[str, Any]) -> str:
    if stage == "init" and data.get("error"):
        return f"  ({escape(str(data['error']).splitlines()[0])})"
    if stage == "check" and "counts" in data:
        c = data["counts"]
        return f"  ({c['errors']} error(s), {c['warnings']} warning(s), {c['infos']} info)"
    if stage == "tests" and "returncode" in data:
        if data["returncode"] == _NO_TESTS:
            return "  (no tests collected)"
        return f"  ({data['passed']} passed, {data['failed']} failed)"
    return ""


def _render(stages: dict[str, dict[str, Any]], output: str, verdict: str) -> None:
    console = out()
    label = {"pass": "[bold green]PASS[/]", "fail": "[bold red]FAIL[/]", "skipped": "[dim]SKIPPED[/]"}
    console.print("archipel verify")
    for stage in _STAGES:
        console.print(f"  {stage:<7} {label[stages[stage]['status']]}{_detail(stage, stages[stage])}")
    check = stages["check"]
    for error in check.get("errors", []):
        console.print(f"    [red]✗ {escape(str(error.get('message')))}[/]")
    for item in check.get("diagnostics", []):
        colour = "yellow" if item.get("level") == "warning" else "cyan"
        console.print(f"    [{colour}]{escape(str(item.get('level')))}[/] {escape(str(item.get('code')))}: "
                      f"{escape(str(item.get('message')))}")
    if stages["tests"]["status"] == "fail" and output.strip():
        console.print("  [bold]pytest output:[/]")
        for line in output.strip().splitlines()[-15:]:
            console.print(f"    {escape(line)}", soft_wrap=True)
    console.print(f"Overall: {label[verdict]}")


def verify(
    domain: DomainOption = None,
    path: Annotated[str, typer.Option("--path", help="Project folder the tests run in.")] = ".",
    env: Annotated[
        str, typer.Option("--env", help="Environment (ARCHIPEL_ENV/PROTEAN_ENV) of all three stages.")
    ] = "test",
    as_json: JsonOption = False,
) -> None:
    """Initialize a domain, run check, and run its tests — one verdict.

    Exit 0 when all three pass; 3 init, 4 check, 5 tests failed (Protean's codes); 2 wrong usage.
    """
    try:
        with (err().status("verifying") if err().is_terminal and not as_json else _quiet()):
            stages, output, diagnostics = run_verify(domain, path, env)
    except CliError as exc:
        if as_json and exc.code == 2:
            print_json({"version": ENVELOPE_VERSION, "status": "error",
                        "data": {"verdict": "fail", "stages": {s: {"status": "skipped"} for s in _STAGES},
                                 "error": exc.message},
                        "diagnostics": []})
        raise
    verdict = "pass" if all(stages[s]["status"] == "pass" for s in _STAGES) else "fail"
    if as_json:
        print_json({"version": ENVELOPE_VERSION, "status": verdict,
                    "data": {"verdict": verdict, "stages": stages}, "diagnostics": diagnostics})
    else:
        _render(stages, output, verdict)
    if verdict != "pass":
        raise typer.Exit(exit_status(stages))


#: Protean's exit statuses of a failed stage, in precedence order
FAILED_STATUS = {"init": 3, "check": 4, "tests": 5}


def exit_status(stages: dict[str, dict[str, object]]) -> int:
    """The exit status of a failed verdict: the first failed stage's (Protean's 3/4/5)."""
    for stage, status in FAILED_STATUS.items():
        if stages[stage]["status"] != "pass":
            return status
    return 0


@contextmanager
def _quiet() -> Iterator[None]:
    yield
