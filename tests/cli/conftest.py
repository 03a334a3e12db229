"""Helpers for the CLI tests: run ``archipel`` as a user does, or in-process.

Subprocess runs start in ``tests/cli/sample`` (the user's project folder), so
``--domain sample_shelf`` imports ``tests/cli/sample/sample_shelf``.
In-process runs call :func:`archipel.cli.main.run` with that folder on
``sys.path``; they are used where a test must replace the engine or look at
data created in the same process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parent / "sample"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def cli_env(**overrides: str | None) -> dict[str, str]:
    """The environment of a CLI subprocess: wide, colourless, no inherited domain."""
    env = dict(os.environ)
    for name in ("ARCHIPEL_DOMAIN", "PROTEAN_DOMAIN", "ARCHIPEL_DEBUG", "FORCE_COLOR"):
        env.pop(name, None)
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "PYTHONDONTWRITEBYTECODE": "1"})
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_cli(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m archipel ARGS`` from the sample folder."""
    return subprocess.run(
        [sys.executable, "-m", "archipel", *args],
        cwd=SAMPLE,
        env=env or cli_env(),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Outcome:
    """Exit status and captured output of an in-process run."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return ANSI.sub("", self.out + self.err)


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Outcome]]:
    """Run the CLI in this process: ``cli("dlq", "list", "--domain", "sample_shelf")``."""
    from archipel.cli.main import run

    monkeypatch.syspath_prepend(str(SAMPLE))
    monkeypatch.chdir(SAMPLE)
    for name in ("ARCHIPEL_DOMAIN", "PROTEAN_DOMAIN", "ARCHIPEL_DEBUG", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")

    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        code = run(list(args))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    yield invoke


@pytest.fixture
def shelf(cli: Callable[..., Outcome]):  # noqa: ANN201 - the sample domain module
    """The sample domain, imported and initialised in this process, data emptied after."""
    import sample_shelf

    domain = sample_shelf.domain
    domain.init()
    with domain.domain_context():
        domain.setup_database()
    yield domain
    with domain.domain_context():
        domain.truncate_database()
