"""Unique indexes (``indexes=[Index(..., unique=True)]``) hold on every store, as in Protean.

Protean 0.18's memory store enforces a declared unique index (a ``ValidationError`` under
the index's fields joined by ``_``; a value with a None in it collides with nothing; a
partial index, ``where=``, is not enforced in memory); its SQL stores get it from the
index the DDL creates. One program, renamed (the porting rule), runs the same writes under
Protean's memory store and under archipel on each provider: the same writes are refused,
under the same keys.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import types
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.errors import ValidationError
from tests.adapters.conftest import start

protean = pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")

PROGRAM = """
from PKG import Domain, Index, Q
from PKG.core.aggregate import BaseAggregate
from PKG.fields import String

domain = Domain(name="Crm", config=CONFIG)

@domain.aggregate(indexes=[
    Index("email", unique=True),
    Index("name", "city", unique=True),
    Index("code", unique=True, where=Q(active="y")),
])
class Customer(BaseAggregate):
    email = String(max_length=20)
    name = String(max_length=20)
    city = String(max_length=20)
    code = String(max_length=20)
    active = String(max_length=1)
"""


def load(pkg: str, config: dict[str, Any]) -> types.ModuleType:
    """The program above, imported under ``pkg`` with the domain configured by ``config``."""
    module = types.ModuleType(f"crm_{pkg}")
    module.__dict__["CONFIG"] = config
    sys.modules[module.__name__] = module
    try:
        exec(compile(textwrap.dedent(PROGRAM).replace("PKG", pkg), f"crm_{pkg}.py", "exec"), module.__dict__)  # noqa: S102
    finally:
        del sys.modules[module.__name__]
    return module


@pytest.fixture(scope="module")
def reference() -> Iterator[types.ModuleType]:
    """The program under Protean, on its memory store (the store that enforces indexes
    itself; its SQL stores leave it to the database)."""
    module = load("protean", {"databases": {"default": {"provider": "memory"}}})
    module.domain.init(traverse=False)
    yield module


VALUES = st.sampled_from(["a", "b", None])


def writes(active: list[str]) -> st.SearchStrategy[list[tuple[int | None, dict[str, Any]]]]:
    """Writes: a new row (None), or row ``i`` of those added so far saved with new values."""
    rows = st.fixed_dictionaries(
        {"email": VALUES, "name": VALUES, "city": VALUES, "code": VALUES, "active": st.sampled_from(active)}
    )
    return st.lists(st.tuples(st.none() | st.integers(0, 5), rows), min_size=1, max_size=8)


def run(module: types.ModuleType, writes: list[tuple[int | None, dict[str, Any]]]) -> list[Any]:
    """What each write gave: ``"ok"`` or the sorted keys of the ``ValidationError``."""
    domain, customer = module.domain, module.Customer
    validation_error = importlib.import_module(module.Domain.__module__.split(".")[0] + ".exceptions").ValidationError
    outcomes: list[Any] = []
    with domain.domain_context():
        repo = domain.repository_for(customer)
        added: list[Any] = []
        for index, values in writes:
            if index is None or index >= len(added):
                record = customer(**values)
            else:
                record = repo.get(added[index])
                for name, value in values.items():
                    setattr(record, name, value)
            try:
                repo.add(record)
            except validation_error as exc:
                outcomes.append(sorted(exc.messages))
            else:
                outcomes.append("ok")
                if record.id not in added:
                    added.append(record.id)
    return outcomes


def test_unique_indexes_refuse_the_writes_protean_refuses(reference, storage, provider):
    ported = load("archipel", storage)
    start(ported.domain)
    # a partial index is enforced by the SQL stores only (Protean's too): there, no row of
    # these writes is active, so it never applies
    active = ["y", "n"] if provider == "memory" else ["n"]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(writes(active))
    def same(writes):
        reference.domain.providers["default"]._data_reset()
        with ported.domain.domain_context():
            ported.domain.truncate_database()
        got, expected = run(ported, writes), run(reference, writes)
        if provider == "memory":
            assert got == expected
        else:  # a row breaking two indexes: the database names the one it checked first
            assert [o == "ok" for o in got] == [o == "ok" for o in expected]
            assert all(o == "ok" or o in (["email"], ["name_city"]) for o in got)

    try:
        same()
    finally:
        ported.domain.shutdown()


def test_the_refusal_names_the_index(storage, provider):
    ported = load("archipel", storage)
    start(ported.domain)
    try:
        outcomes = run(
            ported,
            [
                (None, {"email": "a", "name": "n", "city": "c", "code": None, "active": "n"}),
                (None, {"email": "b", "name": "n", "city": "c", "code": None, "active": "n"}),
                (None, {"email": "a", "name": "m", "city": "c", "code": None, "active": "n"}),
            ],
        )
        assert outcomes == ["ok", ["name_city"], ["email"]]
        with ported.domain.domain_context(), pytest.raises(ValidationError) as caught:
            ported.domain.repository_for(ported.Customer).add(
                ported.Customer(email="c", name="n", city="c", active="n")
            )
        assert caught.value.messages == {
            "name_city": ["Customer with (name, city)=('n', 'c') already exists: (name, city) is unique together"]
        }
        # the partial unique index: enforced by SQL among the rows it covers; advisory in
        # memory, as in Protean
        active = [(None, {"email": e, "name": e, "city": "x", "code": "k", "active": "y"}) for e in "pq"]
        expected = ["ok", "ok"] if provider == "memory" else ["ok", ["code"]]
        assert run(ported, active) == expected
    finally:
        ported.domain.shutdown()
