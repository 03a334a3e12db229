"""The ``archipel`` command itself: help, version, errors, colour, --debug."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import ANSI, SAMPLE, cli_env, run_cli

SEED_COMMANDS = {"shell", "database", "server", "events", "dlq", "subscriptions", "observatory"}
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;|9[0-7])[0-9;]*m")


def commands_listed(help_text: str) -> set[str]:
    names = set()
    in_section = False
    for line in ANSI.sub("", help_text).splitlines():
        if "Commands" in line:
            in_section = True
            continue
        if in_section and line.strip().startswith("╰"):
            break
        match = re.match(r"^\s*│\s([a-z][a-z-]*)\s{2,}", line)
        if in_section and match:
            names.add(match.group(1))
    return names


def test_help_lists_every_command_group():
    result = run_cli("--help")
    assert result.returncode == 0
    assert SEED_COMMANDS <= commands_listed(result.stdout)
    assert "version" in result.stdout  # in its own "Other" panel


def test_python_dash_m_and_console_script_agree():
    script = shutil.which("archipel", path=str(Path(sys.executable).parent))
    assert script is not None
    via_script = subprocess.run(
        [script, "version"], cwd=SAMPLE, env=cli_env(), capture_output=True, text=True, timeout=60
    )
    via_module = run_cli("version")
    assert via_script.returncode == via_module.returncode == 0
    assert via_script.stdout == via_module.stdout
    assert via_module.stdout.startswith("archipel ")


def test_console_script_imports_domains_from_the_current_folder():
    # the script's sys.path starts at its bin/ folder; the CLI adds the working directory
    script = shutil.which("archipel", path=str(Path(sys.executable).parent))
    assert script is not None
    env = cli_env()
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [script, "database", "setup", "--domain", "sample_shelf"],
        cwd=SAMPLE, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "CliShelf" in result.stdout


def test_unknown_command_names_it_and_exits_2():
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "no-such-command" in result.stderr


def test_errors_are_one_red_line_and_a_hint_without_traceback():
    result = run_cli("database", "setup", "--domain", "broken")
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: importing 'broken' failed: RuntimeError")
    assert lines[1].startswith("Hint:")


def test_debug_shows_the_traceback_wherever_it_is_given():
    for args in (
        ["--debug", "database", "setup", "--domain", "broken"],
        ["database", "setup", "--domain", "broken", "--debug"],
    ):
        result = run_cli(*args)
        assert result.returncode == 1
        assert "Traceback" in result.stderr
        assert "boom while importing broken" in result.stderr


def test_debug_from_the_environment():
    result = run_cli("database", "setup", "--domain", "broken", env=cli_env(ARCHIPEL_DEBUG="1"))
    assert "Traceback" in result.stderr


def test_no_color_is_respected_even_when_colour_is_forced():
    coloured = run_cli(
        "database", "setup", "--domain", "broken",
        env=cli_env(NO_COLOR=None, FORCE_COLOR="1", TERM="xterm-256color"),
    )
    assert COLOUR.search(coloured.stderr), "FORCE_COLOR without NO_COLOR should colour errors"
    plain = run_cli(
        "database", "setup", "--domain", "broken",
        env=cli_env(NO_COLOR="1", FORCE_COLOR="1", TERM="xterm-256color"),
    )
    assert not COLOUR.search(plain.stderr + plain.stdout)


def test_groups_without_a_subcommand_show_their_help():
    result = run_cli("database")
    assert {"setup", "drop", "truncate"} <= commands_listed(result.stdout + result.stderr)
