"""``Domain.init()`` imports the modules of the domain's package so their decorators run."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid

import pytest

INIT = """\
from archipel import Domain

domain = Domain(name="{name}", config={{"databases": {{"default": {{"provider": "memory"}}}}}})
"""

MODEL = """\
from archipel import BaseAggregate, BaseCommand, handle
from archipel.fields import String

from {pkg} import domain


@domain.aggregate
class Note(BaseAggregate):
    text = String()


@domain.command(part_of=Note)
class WriteNote(BaseCommand):
    text = String()
"""

HANDLERS = """\
from archipel import current_domain, handle

from {pkg} import domain
from {pkg}.model import Note, WriteNote


@domain.command_handler(part_of=Note)
class NoteHandler:
    @handle(WriteNote)
    def write(self, command):
        note = Note(text=command.text)
        current_domain.repository_for(Note).add(note)
        return note.id
"""

REGISTERS = """\
from archipel import BaseAggregate
from archipel.fields import String

from {pkg} import domain


@domain.aggregate
class {cls}(BaseAggregate):
    text = String()
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    """Write a throwaway domain package; return a function that adds modules to it."""
    pkg = f"discpkg_{uuid.uuid4().hex[:10]}"
    root = tmp_path / pkg
    root.mkdir()
    (root / "__init__.py").write_text(INIT.format(name="Disc" + uuid.uuid4().hex[:6]))
    monkeypatch.syspath_prepend(str(tmp_path))
    domains = []

    def write(relative: str, text: str = "") -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).format(pkg=pkg, cls=path.stem.title()))

    def load():
        domain = importlib.import_module(pkg).domain
        domains.append(domain)
        return domain

    write.pkg = pkg  # type: ignore[attr-defined]
    write.load = load  # type: ignore[attr-defined]
    yield write
    for domain in domains:
        if domain.initialized:
            domain.shutdown()
    for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
        del sys.modules[name]


def test_init_imports_sibling_modules_and_wires_their_handlers(package):
    package("model.py", MODEL)
    package("handlers.py", HANDLERS)
    domain = package.load()
    assert f"{package.pkg}.handlers" not in sys.modules

    domain.init()

    model = sys.modules[f"{package.pkg}.model"]
    assert f"{package.pkg}.handlers" in sys.modules
    with domain.domain_context():
        domain.setup_database()
        note_id = domain.process(model.WriteNote(text="hello"))
        assert domain.repository_for(model.Note).get(note_id).text == "hello"


def test_init_imports_sub_packages(package):
    package("model.py", MODEL)
    package("sub/__init__.py")
    package("sub/inner.py", REGISTERS)
    domain = package.load()
    domain.init()
    assert "Inner" in domain.registry.of_kind("aggregate")


def test_init_skips_tests_folders_and_test_modules(package):
    package("model.py", MODEL)
    package("tests/__init__.py")
    package("tests/helpers.py", REGISTERS)
    package("test_something.py", REGISTERS)
    package("conftest.py", REGISTERS)
    domain = package.load()
    domain.init()
    aggregates = domain.registry.of_kind("aggregate")
    assert "Note" in aggregates
    assert "Helpers" not in aggregates
    assert "Test_Something" not in aggregates and "Conftest" not in aggregates
    assert f"{package.pkg}.tests.helpers" not in sys.modules


def test_init_skips_folders_that_are_not_packages(package):
    package("model.py", MODEL)
    package("scripts/loose.py", REGISTERS)
    domain = package.load()
    domain.init()
    assert "Loose" not in domain.registry.of_kind("aggregate")


def test_init_without_traverse_imports_nothing(package):
    package("model.py", MODEL)
    domain = package.load()
    domain.init(traverse=False)
    assert f"{package.pkg}.model" not in sys.modules
