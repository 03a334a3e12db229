"""Adapters registered by name (Protean's ``protean.port.provider.registry`` and
``protean.port.broker.registry``): ``register(name, "package.module.Class")`` makes
``provider = name`` available in the configuration.

The registry objects behave as Protean's (one program, run against both); then a
database and a broker registered by name are the ones a domain uses, on a real SQLite
file.
"""

from __future__ import annotations

import importlib
import sqlite3
from typing import Any

import pytest

from archipel import BaseAggregate, Domain
from archipel.adapters.memory.database import MemoryDatabase
from archipel.fields import String

protean = pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")

#: (registry module, a class each framework ships there) per framework
SHIPPED = {
    "protean": {
        "port.provider": "protean.adapters.repository.memory.MemoryProvider",
        "port.broker": "protean.adapters.broker.inline.InlineBroker",
    },
    "archipel": {
        "port.provider": "archipel.adapters.memory.database.MemoryDatabase",
        "port.broker": "archipel.adapters.memory.broker.InlineBroker",
    },
}


def behaviour(pkg: str, port: str) -> list[Any]:
    """What a program sees using ``pkg``'s registry of ``port`` (no state left behind)."""
    registry = importlib.import_module(f"{pkg}.{port}").registry
    error = importlib.import_module(f"{pkg}.exceptions").ConfigurationError
    path = SHIPPED[pkg][port]
    module, _, name = path.rpartition(".")
    shipped = getattr(importlib.import_module(module), name)
    seen: list[Any] = []
    try:
        registry.register("parity_custom", path)
        seen.append(registry.list().get("parity_custom") == path)
        seen.append(registry.get("parity_custom") is shipped)
        registry.register("parity_custom", path)  # again: replaced, no error
        seen.append(registry.get("parity_custom") is shipped)
        for unknown in ("parity_missing", "parity_broken"):
            if unknown == "parity_broken":
                registry.register(unknown, f"{module}.NoSuchClass")
            try:
                registry.get(unknown)
            except error as exc:
                seen.append((unknown, "refused", unknown in str(exc)))
            else:
                seen.append((unknown, "accepted"))
    finally:
        table = getattr(type(registry), "_providers", None) or getattr(type(registry), "_brokers", None)
        if table is not None:  # Protean's registries: class-level tables
            for key in ("parity_custom", "parity_broken"):
                table.pop(key, None)
        else:
            from archipel.port import registry as archipel_registry

            for key in ("parity_custom", "parity_broken"):
                archipel_registry._EXTRA[registry.kind].pop(key, None)
    return seen


@pytest.mark.parametrize("port", ["port.provider", "port.broker"])
def test_the_registries_behave_as_proteans(port):
    ours = behaviour("archipel", port)
    assert ours == behaviour("protean", port)
    assert ours == [True, True, True, ("parity_missing", "refused", True), ("parity_broken", "refused", True)]


class CountingDatabase(MemoryDatabase):
    """The memory database under another class (a third party's adapter)."""


@pytest.fixture
def registered():
    from archipel.port import registry as archipel_registry
    from archipel.port.broker import registry as brokers
    from archipel.port.provider import registry as databases

    databases.register("counting", f"{__name__}.CountingDatabase")
    databases.register("audited_sql", "archipel.adapters.sql.database:create_database")
    brokers.register("relay", "archipel.adapters.memory.broker.InlineBroker")
    yield
    for kind, name in (("database", "counting"), ("database", "audited_sql"), ("broker", "relay")):
        archipel_registry._EXTRA[kind].pop(name, None)


def _domain(database: dict[str, Any]) -> tuple[Domain, type]:
    domain = Domain(
        name="Registered",
        config={"databases": {"default": database}, "brokers": {"default": {"provider": "relay"}}},
    )

    @domain.aggregate
    class Note(BaseAggregate):
        text = String(max_length=20)

    domain.init(traverse=False)
    return domain, Note


def test_a_database_registered_by_name_is_the_one_used(registered):
    from archipel.adapters.memory.broker import InlineBroker

    domain, note = _domain({"provider": "counting"})
    try:
        with domain.domain_context():
            domain.repository_for(note).add(note(id="n1", text="kept"))
            assert domain.repository_for(note).get("n1").text == "kept"
        database = domain.providers.database("default")
        assert type(database) is CountingDatabase
        assert database.count(domain.schema_for(note)) == 1  # the row is in it
        assert isinstance(domain.brokers["default"], InlineBroker)
    finally:
        domain.shutdown()


def test_a_sql_database_registered_under_another_name_stores_in_its_file(registered, tmp_path):
    path = tmp_path / "notes.db"
    domain, note = _domain({"provider": "audited_sql", "database_uri": f"sqlite:///{path}"})
    try:
        with domain.domain_context():
            domain.setup_database()
            domain.repository_for(note).add(note(id="n1", text="on disk"))
        table = domain.schema_for(note).table
        with sqlite3.connect(path) as conn:
            assert conn.execute(f'SELECT text FROM "{table}"').fetchall() == [("on disk",)]  # noqa: S608
    finally:
        domain.shutdown()


def test_an_unregistered_provider_name_is_a_configuration_error_naming_the_known_ones():
    from archipel.errors import ConfigurationError

    domain = Domain(name="Unknown", config={"databases": {"default": {"provider": "nowhere"}}})
    with pytest.raises(ConfigurationError, match=r"nowhere.*memory"):
        domain.init(traverse=False)
