"""A Protean 0.18 program renamed to archipel gets Protean's documentation: the oracle domains
of ``test_builder_oracle`` (declared in both frameworks), each documented by its own framework's
generators, give the same text for every ``--type`` and format, once their module names are
made one and the documented IR differences (docs/porting.md, "The domain IR") are applied.
"""

from __future__ import annotations

from typing import Any

import pytest

protean_docs = pytest.importorskip("protean.cli.docs", reason="Protean 0.18 is the oracle (pip install -e '.[bench]')")

from archipel.ir.docs import render  # noqa: E402
from tests.unit.ir.test_builder_oracle import _apply_known, _normal, both  # noqa: E402, F401

TYPES = ["clusters", "events", "handlers", "catalog", "event-model", "all"]


def test_each_framework_documents_its_program_the_same_way(both: tuple[Any, Any, str]) -> None:  # noqa: F811
    theirs, ours, template = both
    their_ir = _apply_known(_normal(theirs, f"ir_{template}_protean"), template)
    our_ir = _normal(ours, f"ir_{template}_archipel")
    for doc_type in TYPES:
        for fmt in ["markdown"] if doc_type == "catalog" else ["markdown", "mermaid"]:
            expected = protean_docs._generate_output(their_ir, doc_type=doc_type, output_format=fmt, cluster_fqn="",
                                                     annotations={})
            assert render(our_ir, doc_type, fmt) == expected, (doc_type, fmt)
    aggregates = [path.rsplit(".", 1)[-1] for path in our_ir["clusters"]]
    assert aggregates and all(f'["{name}"]' in render(our_ir, "clusters", "mermaid") for name in aggregates)
