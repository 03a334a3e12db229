"""The pytest plugin (``pytest11`` entry point): fixtures without imports, in a fresh pytest run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

DOMAIN = '''
from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, current_domain, handle
from archipel.fields import Identifier, String
from archipel.errors import ValidationError

shelf = Domain(name="PluginShelf", config={"databases": {"default": {"provider": "memory"}}})


@shelf.aggregate
class Book(BaseAggregate):
    title = String(required=True)


@shelf.event(part_of=Book)
class Shelved(BaseEvent):
    book_id = Identifier(required=True)
    title = String()


@shelf.command(part_of=Book)
class Shelve(BaseCommand):
    title = String(required=True)


@shelf.command_handler(part_of=Book)
class Books:
    @handle(Shelve)
    def shelve(self, command):
        if command.title == "forbidden":
            raise ValidationError({"title": ["not on this shelf"]})
        book = Book(title=command.title)
        book.raise_(Shelved(book_id=book.id, title=book.title))
        current_domain.repository_for(Book).add(book)
'''

TESTS = '''
import pytest

from shelf_domain import Shelve, Shelved, shelf
from archipel.errors import ValidationError


@pytest.fixture
def archipel_domain():
    return shelf


@pytest.mark.bdd
def test_shelving_raises_shelved(scenario):
    (event,) = scenario(Shelve(title="Dune")).when(Shelve(title="Emma")).then(Shelved)
    assert event.title == "Emma"


def test_a_refused_command(scenario):
    scenario().when(Shelve(title="forbidden")).then_raises(ValidationError)


def test_wrong_expectation_fails(scenario):
    with pytest.raises(AssertionError, match="expected: \\\\['Other'\\\\]"):
        scenario().when(Shelve(title="x")).then(type("Other", (), {}))


def test_given_is_protean_style_given_in_the_active_domain(given):
    import archipel.testing
    from archipel import current_domain

    assert given is archipel.testing.given
    assert current_domain.name == "PluginShelf"


def test_domain_fixture_sets_up_and_empties(domain_fixture):
    fixture = domain_fixture(shelf)
    with fixture.domain_context():
        shelf.process(Shelve(title="Kim"))
    with shelf.domain_context():
        assert shelf.event_store.read_all(after_global=0, limit=10) == []


def test_env_option_reached_the_environment():
    import os
    assert os.environ.get("ARCHIPEL_ENV") == "ci"
'''


def test_fixtures_work_without_imports_or_conftest(tmp_path):
    (tmp_path / "shelf_domain.py").write_text(textwrap.dedent(DOMAIN))
    (tmp_path / "test_shelf.py").write_text(textwrap.dedent(TESTS))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
         "--archipel-env", "ci", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "6 passed" in done.stdout


def test_given_without_a_domain_says_what_to_define(tmp_path):
    (tmp_path / "test_alone.py").write_text("def test_x(scenario):\n    scenario()\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert "define a fixture `archipel_domain`" in done.stdout


ENV_DOMAIN = '''
from archipel import Domain

domain = Domain(name="EnvShelf")
'''

ENV_TOML = '''
custom_label = "base"

[test]
custom_label = "from the test table"

[staging]
custom_label = "from the staging table"
'''

ENV_TEST = '''
import os

def test_label():
    from env_shelf import domain
    print("LABEL", domain.config["custom_label"], "ENV", os.environ.get("ARCHIPEL_ENV"))
'''


def _run_env_project(tmp_path, *options: str, **env: str):
    package = tmp_path / "env_shelf"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(ENV_DOMAIN)
    (package / "domain.toml").write_text(ENV_TOML)
    (tmp_path / "test_env.py").write_text(ENV_TEST)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *options, str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", **env},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done.stdout


def test_tests_run_in_the_test_environment_by_default_as_in_protean(tmp_path):
    assert "LABEL from the test table ENV test" in _run_env_project(tmp_path)


def test_protean_env_option_and_variable_choose_the_table(tmp_path):
    assert "LABEL from the staging table" in _run_env_project(tmp_path, "--protean-env", "staging")
    assert "LABEL from the staging table" in _run_env_project(tmp_path, "--archipel-env", "staging")
    # a deployment's PROTEAN_ENV (ported as is) is read when ARCHIPEL_ENV is unset
    assert "LABEL from the staging table" in _run_env_project(tmp_path, PROTEAN_ENV="staging")
    assert "LABEL base" in _run_env_project(tmp_path, ARCHIPEL_ENV="none")
