"""Source analysis fails open, as Protean 0.18's does: a class whose source cannot be read
contributes no ``method_edges`` and no source finding, and nothing raises.

Each program is imported under both frameworks (module ``failopen``, ``FRAMEWORK``
renamed) and the edges and source findings of both IRs compared, besides what each case
asserts of archipel's.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.unit.ir.edges import method_edges as _edges

pytest.importorskip("protean", reason="Protean 0.18 is the oracle (pip install -e '.[bench]')")

from archipel.ir.analysis.classes import ClassIndex  # noqa: E402
from archipel.ir.analysis.sources import SourceProvider  # noqa: E402
from archipel.ir.builder import IRBuilder  # noqa: E402

SOURCE_RULES = {"UNRAISED_EVENT", "UNSOURCED_PROJECTION_FIELD", "UNINDEXED_FILTER_PATH",
                "HANDLER_PERSISTS_AND_CALLS_OUT", "INFRA_IMPORT_IN_DOMAIN", "ADAPTER_CALL_IN_DOMAIN"}

HEADER = """\
from FRAMEWORK import Domain, handle, current_domain
from FRAMEWORK.fields import Identifier, String
import urllib.request

d = Domain(name="Open")
"""
EVENTS = """
@d.event(part_of="Order")
class Placed:
    order_id = Identifier()

@d.command(part_of="Order")
class Place:
    order_id = Identifier()

@d.command_handler(part_of="Order")
class Orders:
    @handle(Place)
    def place(self, command):
        repo = current_domain.repository_for(Order)
        repo.get(command.order_id).place()
        urllib.request.urlopen("https://example.com")
"""

CASES = {
    # the aggregate is built by type(): no class statement of that name in the module
    "type_built": HEADER + """
def place(self):
    self.raise_(Placed(order_id=self.id))

Order = d.aggregate(type("Order", (), {"place": place, "status": String(max_length=5)}))
""" + EVENTS,
    # a method written as a lambda is not a def: it has no body to read
    "lambda_method": HEADER + """
@d.aggregate
class Order:
    status = String(max_length=5)
    place = lambda self: self.raise_(Placed(order_id=self.id))  # noqa: E731
""" + EVENTS,
    # a raise_ inside a nested function (or lambda) belongs to it, not to the method
    "nested_scopes": HEADER + """
@d.aggregate
class Order:
    status = String(max_length=5)

    def place(self):
        def later():
            self.raise_(Placed(order_id=self.id))
        return [lambda: self.raise_(Placed(order_id=self.id))], later
""" + EVENTS,
    # the module's file no longer parses (edited after the import): nothing is read from it
    "broken_file": HEADER + """
@d.aggregate
class Order:
    status = String(max_length=5)

    def place(self):
        self.raise_(Placed(order_id=self.id))
""" + EVENTS,
}


def _load(tmp_path: Path, case: str, framework: str) -> tuple[Any, dict[str, Any]]:
    folder = tmp_path / framework
    folder.mkdir()
    path = folder / "failopen.py"
    path.write_text(CASES[case].replace("FRAMEWORK", framework))
    sys.path.insert(0, str(folder))
    try:
        importlib.invalidate_caches()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module("failopen")
        if case == "broken_file":
            path.write_text("def broken(:\n")
        module.d.init(traverse=False)
        ir = module.d.to_ir() if framework == "protean" else IRBuilder(module.d).build()
        return module, ir
    finally:
        sys.modules.pop("failopen", None)
        sys.path.remove(str(folder))


def _source_findings(ir: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(d["code"], d["element"], d["message"]) for d in ir["diagnostics"] if d["code"] in SOURCE_RULES]


@pytest.mark.parametrize("case", sorted(CASES))
def test_unreadable_methods_give_no_edges_and_the_same_findings_as_protean(tmp_path, case):
    _, theirs = _load(tmp_path, case, "protean")
    _, ours = _load(tmp_path, case, "archipel")
    assert _edges(ours) == _edges(theirs)  # one module name under both frameworks
    assert _source_findings(ours) == _source_findings(theirs)
    edges = _edges(ours)
    assert not [path for path in edges if path[-1] == "aggregate"]  # Order.place raises nothing readable
    codes = {f[0] for f in _source_findings(ours)}
    if case in ("type_built", "broken_file"):  # no class statement to read: the cluster is skipped
        assert "UNRAISED_EVENT" not in codes
    else:  # the class was read, and no method of it raises Placed
        assert "UNRAISED_EVENT" in codes
    if case != "broken_file":  # the handler itself is readable: it persists, then calls out
        assert "HANDLER_PERSISTS_AND_CALLS_OUT" in codes


def test_a_program_made_in_memory_has_no_edges_and_no_source_findings():
    from archipel import Domain
    from archipel.fields import Identifier

    code = """
@d.aggregate
class Order:
    def place(self):
        self.raise_(Placed(order_id=self.id))

@d.event(part_of=Order)
class Placed:
    order_id = Identifier()
"""
    namespace: dict[str, Any] = {"d": Domain(name="Memory"), "Identifier": Identifier, "__name__": "nowhere_module"}
    exec(compile(code, "<memory>", "exec"), namespace)  # noqa: S102 - a program without a file
    namespace["d"].init(traverse=False)
    ir = IRBuilder(namespace["d"]).build()
    assert _edges(ir) == {} and _source_findings(ir) == []


@pytest.mark.parametrize(("content", "parses"), [
    (b"\xef\xbb\xbfclass A:\n    pass\n", True),  # a UTF-8 BOM
    (b"# -*- coding: latin-1 -*-\nclass A:\n    name = '\xe9'\n", True),  # PEP 263
    (b"class A(:\n", False),
    (b"class A:\n    x = '\x00'\n\x00", False),  # a NUL byte
    (b"x = (" * 200 + b")" * 200 + b"\nclass A: pass\n", None),  # nested past the parser's limit: either
])
def test_the_provider_reads_what_python_reads_and_nothing_else(tmp_path, content, parses):
    (tmp_path / "prov_mod.py").write_bytes(content)
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.invalidate_caches()
        provider = SourceProvider()
        tree = provider.tree("prov_mod")
        if parses is not None:
            assert (tree is not None) is parses
        assert provider.origin("prov_mod") == str(tmp_path / "prov_mod.py")
        assert provider.tree("no_such_module_anywhere") is None and provider.origin("no_such_module_anywhere") is None
        assert provider.tree("sys") is None  # built-in
    finally:
        sys.path.remove(str(tmp_path))


def test_a_class_is_pinned_by_its_qualname_and_an_ambiguous_one_is_not_guessed(tmp_path):
    (tmp_path / "pin_mod.py").write_text(
        "class Order:\n    def a(self): pass\n\n"
        "class Outer:\n    class Order:\n        def b(self): pass\n\n"
        "def build():\n    class Order:\n        def c(self): pass\n    return Order\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.invalidate_caches()
        module = importlib.import_module("pin_mod")
        index = ClassIndex(SourceProvider())
        assert [m.name for m in index.methods(module.Order)] == ["a"]
        assert [m.name for m in index.methods(module.Outer.Order)] == ["b"]
        assert [m.name for m in index.methods(module.build())] == ["c"]
        flattened = type("Order", (), {"__module__": "pin_mod"})  # a bare name three classes share
        assert index.class_entry(flattened) is None
        pinned = type("Order", (), {"__module__": "pin_mod", "b": module.Outer.Order.b})
        assert index.class_entry(pinned).qualname == "Outer.Order"  # its own function says where
        odd = type("Order", (), {})
        odd.__module__ = 5  # type: ignore[assignment]
        assert index.class_entry(odd) is None
    finally:
        sys.modules.pop("pin_mod", None)
        sys.path.remove(str(tmp_path))
