"""Protean 0.18's own project template (``protean new``, with its example), ported by renaming
``protean`` to ``archipel``: ``check()`` and the IR's ``method_edges`` are Protean's.

A realistic program for the source analysis: a package of modules importing each
other relatively (``from .events import ExampleCreated``), a factory that raises an
event on the instance it builds (``example.raise_(...)``), a command handler reaching
the repository through the domain object, a projector constructing its projection.
The template is rendered by substituting its two names (jinja2 is not needed for the
Python files).
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.unit.ir.edges import method_edges as _edges

protean = pytest.importorskip("protean", reason="Protean 0.18 is the oracle (pip install -e '.[bench]')")

from archipel.ir.builder import IRBuilder  # noqa: E402

TEMPLATE = Path(protean.__file__).parent / "template" / "domain_template" / "src" / "{{package_name}}"
EXAMPLE = "{% if include_example %}example{% endif %}"


def _render(root: Path, framework: str) -> None:
    for path in sorted(TEMPLATE.rglob("*")):
        relative = str(path.relative_to(TEMPLATE)).replace(EXAMPLE, "example")
        if "__pycache__" in relative or not path.is_file() or not relative.endswith((".py", ".py.jinja")):
            continue
        text = (path.read_text().replace("{{ package_name }}", "shopapp").replace("{{ domain_name }}", "shop")
                .replace("{{ project_name }}", "shopapp"))
        assert "{{" not in text and "{%" not in text, relative
        target = root / "shopapp" / relative.removesuffix(".jinja")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text if framework == "protean" else text.replace("protean", framework))


def _run(tmp_path: Path, framework: str) -> tuple[dict[str, Any], dict[tuple[str, ...], Any]]:
    root = tmp_path / framework
    _render(root, framework)
    sys.path.insert(0, str(root))
    try:
        importlib.invalidate_caches()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            domain = importlib.import_module("shopapp.domain").shop
            report = domain.check()
            domain.init()
        ir = domain.to_ir() if framework == "protean" else IRBuilder(domain).build()
        return report, _edges(ir)
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name == "shopapp" or name.startswith("shopapp.")]:
            del sys.modules[name]


def test_protean_s_template_ported_gets_protean_s_report_and_edges(tmp_path):
    if not TEMPLATE.is_dir():
        pytest.skip("this Protean has no project template")
    theirs, their_edges = _run(tmp_path, "protean")
    ours, our_edges = _run(tmp_path, "archipel")
    assert ours["errors"] == theirs["errors"] == []

    def found(report: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(d["code"], d["element"], d.get("field"), d["level"], d["message"]) for d in report["diagnostics"]]

    assert found(ours) == found(theirs) and ours["status"] == theirs["status"]
    assert our_edges == their_edges
    aggregate = ("clusters", "shopapp.example.aggregate.Example", "aggregate")
    assert our_edges[aggregate] == {"create": {"raises": ["shopapp.example.events.ExampleCreated"]}}
    assert any(path[2] == "command_handlers" for path in our_edges)  # the handler invokes Example.create
