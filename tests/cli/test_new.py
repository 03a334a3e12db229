"""``archipel new``: a project whose own tests pass as generated, on each storage choice."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from archipel.cli.new import ANSWERS, parse_answers, render_project
from tests.cli.conftest import cli_env


def _archipel(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archipel", *args], cwd=folder, env=cli_env(),
                          capture_output=True, text=True, timeout=120)


def _project_tests(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**cli_env(), **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
        env=environment, capture_output=True, text=True, timeout=300,
    )


def test_new_project_passes_its_own_tests_in_memory(tmp_path):
    created = _archipel(tmp_path, "new", "notes-app")
    assert created.returncode == 0, created.stderr
    assert "created" in created.stdout and "pip install -e '.[test]'" in created.stdout
    project = tmp_path / "notes-app"
    assert (project / "src/notes_app/domain.py").is_file() and (project / ".gitignore").is_file()
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "notes-app" and meta["project"]["dependencies"] == ["archipel"]
    tested = _project_tests(project)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout
    # Protean's discovery finds it from the project folder, as its README says
    checked = _archipel(project, "check", "--domain", "src/notes_app")
    assert checked.returncode == 0 and "NotesApp: pass" in checked.stdout, checked.stderr


def test_new_project_on_sqlite_with_the_database_broker(tmp_path):
    created = _archipel(tmp_path, "new", "ledger", "-d", "database=sqlite", "-d", "broker=database")
    assert created.returncode == 0, created.stderr
    project = tmp_path / "ledger"
    tested = _project_tests(project)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert (project / ".archipel/ledger.db").is_file()  # the default URI, relative to the project


@pytest.mark.postgres
def test_new_project_on_postgresql_through_database_url(tmp_path, postgres_server: Any):
    name = postgres_server.create_database(prefix="t_new")
    try:
        created = _archipel(tmp_path, "new", "billing", "-d", "database=postgresql")
        assert created.returncode == 0, created.stderr
        url = postgres_server.url(name).replace("postgresql+psycopg://", "postgresql://")
        tested = _project_tests(tmp_path / "billing", DATABASE_URL=url)
        assert tested.returncode == 0, tested.stdout + tested.stderr
    finally:
        postgres_server.drop_database(name)


@pytest.mark.redis
def test_new_project_with_the_redis_broker(tmp_path, redis_url: str):
    created = _archipel(tmp_path, "new", "mail", "-d", "broker=redis", "-d", "include_example=false")
    assert created.returncode == 0, created.stderr
    project = tmp_path / "mail"
    assert not (project / "src/mail/example").exists() and not (project / "tests/test_example.py").exists()
    tested = _project_tests(project, REDIS_URL=redis_url)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout


def test_existing_folder_dry_run_and_force(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    refused = _archipel(tmp_path, "new", "taken")
    assert refused.returncode == 2 and "exists and is not empty" in refused.stderr
    dry = _archipel(tmp_path, "new", "taken", "--dry-run")
    assert dry.returncode == 0 and "src/taken/domain.py" in dry.stdout
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["keep.txt"]  # nothing written
    forced = _archipel(tmp_path, "new", "taken", "--force", "--defaults", "--skip-setup")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert (tmp_path / "taken" / "src/taken/domain.toml").is_file()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["new", "x", "-d", "databse=sqlite"], "unknown key 'databse'"),
        (["new", "x", "-d", "database=mysql"], "database: memory, sqlite, postgresql"),
        (["new", "x", "-d", "broker"], "is not key=value"),
        (["new", "class"], "package name 'class' is not an importable Python name"),
        (["new", "9lives"], "package name '9lives' is not an importable Python name"),
        (["new", "ok-name", "-d", "package_name=archipel"], "not an importable Python name"),
    ],
)
def test_bad_answers_are_usage_errors_naming_them(tmp_path, args, says):
    result = _archipel(tmp_path, *args)
    assert result.returncode == 2, result.stdout
    assert says in result.stderr
    assert os.listdir(tmp_path) == []


def test_every_placeholder_is_filled_for_every_choice():
    from itertools import product

    for database, broker, example in product(("memory", "sqlite", "postgresql"),
                                             ("inline", "database", "redis"), ("true", "false")):
        answers = parse_answers("My Shop", [f"database={database}", f"broker={broker}",
                                            f"include_example={example}"])
        files = render_project(answers)
        assert answers.package == "my_shop" and answers.domain == "MyShop"
        assert all("{{" not in text and "{{" not in path for path, text in files.items())
        config = tomllib.loads(files["src/my_shop/domain.toml"])
        assert config["command_processing"] == "sync"  # top-level keys, not inside a table
        assert config["brokers"]["default"]["provider"] == broker
        expected = "memory" if database == "memory" else "sql"
        assert config["databases"]["default"]["provider"] == expected
        assert ("src/my_shop/example/model.py" in files) == (example == "true")
        for path, text in files.items():
            if path.endswith(".py"):
                compile(text, path, "exec")  # every generated module is valid Python
    assert set(ANSWERS) >= {"database", "broker", "include_example", "package_name"}
