"""Every command the CLI offers is in the guide's table of commands (docs/guide.md, "Operating")."""

from __future__ import annotations

from pathlib import Path

import typer

from archipel.cli.main import app

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if command.hidden:
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands:
            names += [f"{name} {sub}" for sub, c in subcommands.items() if not c.hidden]
        else:
            names.append(name)
    return names


def test_every_command_is_in_the_guide_s_table() -> None:
    rows = [line for line in GUIDE.read_text().splitlines() if line.startswith("| `archipel ")]
    table = "\n".join(rows)
    missing = []
    for name in _commands():
        group, _, sub = name.partition(" ")
        # a row may list a group's subcommands after its first: `archipel dlq list` / `inspect`
        if f"`archipel {name}" not in table and not (
            sub and f"`archipel {group} " in table and f"`{sub}" in table
        ):
            missing.append(name)
    assert missing == []


def test_the_checker_sees_the_commands() -> None:
    names = _commands()
    assert {"recover", "upgrade-check", "dlq list", "server"} <= set(names)
