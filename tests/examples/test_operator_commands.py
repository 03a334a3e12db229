"""The operator commands on every documented setup of both examples, as an operator meets them.

On a fresh working directory (nothing set up), reading commands create no
table and say there is nothing yet; ``dlq replay --all`` has nothing to send
and says so (it refuses only when there is a letter it could not deliver:
``tests/cli/test_replay_across_processes.py``).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.examples._bookshelf import story_env

SETUPS = [
    ("examples.bookshelf", {}),
    ("examples.bookshelf", {"ARCHIPEL_ENV": "async"}),
    *[(f"examples.multi_domain.{name}", {}) for name in
      ("accounts", "products", "sales", "warehouse", "payments", "delivery")],
]


def _tables(folder: Path) -> dict[str, list[str]]:
    found = {}
    for db in folder.rglob("*.db"):
        with sqlite3.connect(db) as conn:
            found[db.name] = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: tables for name, tables in found.items() if tables}


@pytest.mark.parametrize("module, env", SETUPS, ids=lambda v: v if isinstance(v, str) else ",".join(v) or "-")
def test_reading_commands_on_a_fresh_setup_create_nothing(tmp_path: Path, module: str, env: dict[str, str]) -> None:
    for args, says in (
        (["dlq", "list"], "(nothing yet)"),
        (["subscriptions", "status"], "subscription"),
        (["dlq", "replay", "--all"], "replayed 0 dead letters"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "archipel", *args, "--domain", module],
            cwd=tmp_path, env=story_env(COLUMNS="80", **env), capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        assert says in result.stdout, f"{args}: {result.stdout}"
        assert max((len(line) for line in result.stdout.splitlines()), default=0) <= 80, result.stdout
    assert _tables(tmp_path) == {}
