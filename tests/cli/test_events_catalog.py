"""``archipel events catalog`` against Protean 0.18's ``protean events catalog``.

Protean's example IRs are read by both: the same entries, the same JSON; the
table's cells are formatted as Protean's (property-tested against its helpers).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel.ir.catalog import build_event_catalog, format_deprecated, format_upcaster_chain
from tests.cli.conftest import cli_env, run_cli

protean_catalog = pytest.importorskip("protean.ir.generators.catalog", reason="bench extra: Protean 0.18")
protean_events = pytest.importorskip("protean.cli.events")
EXAMPLES = sorted((Path(protean_catalog.__file__).parents[1] / "examples").glob("*.json"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_catalog_of_an_ir_is_protean_s(example):
    ir = json.loads(example.read_text())
    ours = build_event_catalog(ir)
    assert ours == protean_catalog.build_event_catalog(ir)
    assert ours  # the examples have events: the comparison is not vacuous


EDGE = st.fixed_dictionaries({"from_version": st.integers(1, 6), "to_version": st.integers(1, 7)})


@given(edges=st.lists(st.one_of(EDGE, st.fixed_dictionaries({"from_version": st.integers(1, 6)})), max_size=6),
       deprecated=st.one_of(st.none(), st.text(max_size=5), st.fixed_dictionaries(
           {}, optional={"since": st.sampled_from(["", "1.2"]), "removal": st.sampled_from(["", "2.0"])})))
def test_cells_are_formatted_as_protean_s(edges, deprecated):
    assert format_upcaster_chain(edges) == protean_events._format_upcaster_chain(edges)
    assert format_deprecated(deprecated) == protean_events._format_deprecated(deprecated)


def test_the_cli_prints_protean_s_json_and_a_table(tmp_path):
    example = EXAMPLES[0]
    ours = run_cli("events", "catalog", "--ir", str(example), "--json")
    assert ours.returncode == 0, ours.stderr
    envelope = json.loads(ours.stdout)
    assert envelope["status"] == "pass" and envelope["diagnostics"] == []
    protean_cli = shutil.which("protean", path=str(Path(__import__("sys").executable).parent))
    if protean_cli:
        theirs = subprocess.run([protean_cli, "events", "catalog", "--ir", str(example), "--json"],
                                capture_output=True, text=True, env=cli_env(), timeout=120)
        assert theirs.returncode == 0, theirs.stderr
        assert envelope["data"] == json.loads(theirs.stdout)["data"]
    table = run_cli("events", "catalog", "--ir", str(example))
    assert table.returncode == 0 and "Event Catalog" in table.stdout
    assert f"{len(envelope['data']['events'])} event(s)" in table.stdout


def test_a_live_domain_and_usage_errors():
    live = run_cli("events", "catalog", "--domain", "sample_shelf", "--json")
    assert live.returncode == 0, live.stderr
    names = {e["name"] for e in json.loads(live.stdout)["data"]["events"]}
    assert {"BookShelved", "Lent", "Renewed"} <= names
    for args in ((), ("--domain", "sample_shelf", "--ir", "x.json")):
        wrong = run_cli("events", "catalog", *args)
        assert wrong.returncode == 2 and "--domain" in wrong.stderr
    missing = run_cli("events", "catalog", "--ir", "no-such.json")
    assert missing.returncode == 1 and "no-such.json" in missing.stderr
