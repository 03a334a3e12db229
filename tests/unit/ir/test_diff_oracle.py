"""``ir diff`` against Protean 0.18 itself: the same pair of IR documents, diffed and classified
by both, gives the same diff document, the same breaking/safe changes, the same Avro verdicts
and the same breaking-change messages.

The pairs are Protean's example IRs and the oracle domain's Protean IR, each mutated by
hypothesis (fields removed/added/retyped/renamed, Decimal shapes, events published or
versioned with upcasters, elements and clusters removed, event sourcing and stream
categories moved, apply handlers and reservations dropped, deprecations, domain config).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

protean_diff = pytest.importorskip("protean.ir.diff", reason="Protean 0.18 is the oracle (pip install -e '.[bench]')")
import protean.ir  # noqa: E402

from archipel.ir.compat import breaking_change_messages, classify_changes  # noqa: E402
from archipel.ir.diff import diff_ir  # noqa: E402

EXAMPLES = [json.loads(p.read_text()) for p in sorted(Path(protean.ir.EXAMPLES_DIR).glob("*.json"))]


def _elements(ir: dict[str, Any]) -> list[dict[str, Any]]:
    """Every element dict with fields, in a stable order."""
    found = []
    for _, cluster in sorted(ir["clusters"].items()):
        found.append(cluster["aggregate"])
        for section in ("entities", "value_objects", "commands", "events", "database_models"):
            found.extend(v for _, v in sorted(cluster.get(section, {}).items()))
    for _, group in sorted(ir["projections"].items()):
        found.append(group["projection"])
    return [e for e in found if "fields" in e]


def _events(ir: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for _, c in sorted(ir["clusters"].items()) for _, e in sorted(c.get("events", {}).items())]


def _pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)] if items else None


def _mutate(ir: dict[str, Any], op: str, i: int, j: int, flag: bool) -> None:  # noqa: C901, PLR0912
    element = _pick(_elements(ir), i)
    field_name = _pick(sorted(element["fields"]), j) if element and element["fields"] else None
    if op == "remove_field" and field_name:
        del element["fields"][field_name]
    elif op == "add_field" and element:
        new: dict[str, Any] = {"kind": "standard", "type": "String", "required": flag}
        if j % 3 == 0:
            new["default"] = "x" if j % 2 else "<callable>"
        element["fields"][f"added_{j % 4}"] = new
    elif op == "retype" and field_name:
        element["fields"][field_name]["type"] = "Integer" if flag else "Float"
    elif op == "rename" and field_name:
        old = element["fields"].pop(field_name)
        old["renamed_from"] = [field_name]
        if flag:
            old["type"] = "Boolean"
        element["fields"][field_name + "_new"] = old
    elif op == "decimal" and element:
        element["fields"]["amount_d"] = {"kind": "standard", "type": "Decimal", "precision": 10 + j % 3 - 1,
                                         "scale": 2 + (1 if flag else 0)}
    elif op == "deprecate" and field_name:
        element["fields"][field_name]["deprecated"] = {"since": "0.1", **({"removal": "0.2"} if flag else {})}
    elif op == "require" and field_name:
        element["fields"][field_name]["required"] = flag
    elif op == "publish":
        event = _pick(_events(ir), i)
        if event:
            event["published"] = flag
    elif op == "version":
        event = _pick(_events(ir), i)
        if event:
            event["__version__"] = event.get("__version__", 1) + 1 + j % 2
            base = event["__type__"].rsplit(".v", 1)[0]
            event["__type__"] = f"{base}.v{event['__version__']}"
            if flag:
                edges = [{"from_version": v, "to_version": v + 1} for v in range(1, event["__version__"])]
                if i % 3 == 1:
                    edges = edges[1:]  # a gap: v1 payloads are stranded
                elif i % 3 == 2:
                    edges.append({"from_version": event["__version__"], "to_version": event["__version__"] + 1})
                ir.setdefault("upcasters", {})[event["name"]] = edges
    elif op == "remove_element":
        cluster = _pick([c for _, c in sorted(ir["clusters"].items())], i)
        section = _pick(["entities", "value_objects", "commands", "events", "command_handlers"], j)
        key = _pick(sorted(cluster.get(section, {})), i) if cluster else None
        if key:
            del cluster[section][key]
    elif op == "remove_cluster" and ir["clusters"]:
        del ir["clusters"][_pick(sorted(ir["clusters"]), i)]
    elif op in ("event_sourced", "category", "identity", "apply", "reserved"):
        aggregate = _pick([c["aggregate"] for _, c in sorted(ir["clusters"].items())], i)
        if aggregate is None:
            return
        options = aggregate["options"]
        if op == "event_sourced":
            options["is_event_sourced"] = flag
        elif op == "category":
            options["stream_category"] = f"moved::{j}"
        elif op == "identity":
            aggregate["identity_field"] = f"key_{j % 2}"
        elif op == "apply":
            handlers = aggregate.setdefault("apply_handlers", {})
            if flag or not handlers:
                handlers[f"x.Event{j % 3}"] = f"apply_{j % 3}"
            else:
                handlers.pop(sorted(handlers)[0])
        else:
            options["reserved"] = sorted({f"r{j % 3}", *(["total"] if flag else [])})
    elif op == "domain":
        ir["domain"]["event_processing"] = "sync" if flag else "async"
    elif op == "handlers":
        handler = _pick([h for _, c in sorted(ir["clusters"].items()) for h in c["command_handlers"].values()], i)
        if handler:
            handler["handlers"][f"X.Cmd{j % 3}.v1"] = ["handle"]


OPS = ["remove_field", "add_field", "retype", "rename", "decimal", "deprecate", "require", "publish", "version",
       "remove_element", "remove_cluster", "event_sourced", "category", "identity", "apply", "reserved",
       "domain", "handlers"]


def _contracts(ir: dict[str, Any]) -> None:
    """Keep ``contracts`` in step with the events marked published (as a builder would)."""
    ir["contracts"] = {"events": sorted(
        ({"fields": e["fields"], "fqn": e["fqn"], "type": e["__type__"], "version": e["__version__"],
          **({"deprecated": e["deprecated"]} if "deprecated" in e else {})}
         for e in _events(ir) if e.get("published")),
        key=lambda c: c["type"],
    )}


def _compare(left: dict[str, Any], right: dict[str, Any], current_version: str | None) -> None:
    theirs = protean_diff.diff_ir(left, right, current_version=current_version)
    ours = diff_ir(left, right, current_version=current_version)
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
    their_report = protean_diff.classify_changes(theirs, left, right, current_version)
    our_report = classify_changes(ours, left, right, current_version)
    assert [asdict(c) for c in our_report.breaking_changes] == [asdict(c) for c in their_report.breaking_changes]
    assert [asdict(c) for c in our_report.safe_changes] == [asdict(c) for c in their_report.safe_changes]
    assert our_report.avro_verdict == their_report.avro_verdict
    assert our_report.avro_verdicts_by_element() == their_report.avro_verdicts_by_element()
    assert breaking_change_messages(ours, our_report) == protean_diff.breaking_change_messages(theirs, their_report)


mutation = st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50), st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    example=st.integers(0, len(EXAMPLES) - 1),
    left_ops=st.lists(mutation, max_size=3),
    right_ops=st.lists(mutation, min_size=1, max_size=6),
    current_version=st.sampled_from([None, "0.1", "0.2", "1.0"]),
)
def test_diff_and_classification_match_protean(example, left_ops, right_ops, current_version):
    left = copy.deepcopy(EXAMPLES[example])
    for op in left_ops:
        _mutate(left, *op)
    _contracts(left)
    right = copy.deepcopy(left)
    for op in right_ops:
        _mutate(right, *op)
    _contracts(right)
    _compare(left, right, current_version)
    _compare(right, left, current_version)


def test_an_unchanged_ir_has_no_changes_in_both():
    ir = EXAMPLES[0]
    result = diff_ir(ir, copy.deepcopy(ir))
    assert result["summary"]["has_changes"] is False
    assert json.dumps(result, sort_keys=True) == json.dumps(protean_diff.diff_ir(ir, copy.deepcopy(ir)), sort_keys=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(example=st.integers(0, len(EXAMPLES) - 1), left_ops=st.lists(mutation, max_size=3),
       ops=st.lists(mutation, min_size=1, max_size=5), form=st.sampled_from(["text", "json"]))
def test_the_command_prints_what_protean_s_prints(tmp_path, monkeypatch, capsys, example, left_ops, ops, form):
    """``archipel ir diff -l A -r B`` and ``protean ir diff -l A -r B``: same output, same exit."""
    from protean.cli.ir import app as protean_ir
    from typer.testing import CliRunner

    from archipel.cli.main import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    left = copy.deepcopy(EXAMPLES[example])
    for op in left_ops:
        _mutate(left, *op)
    right = copy.deepcopy(left)
    for op in ops:
        _mutate(right, *op)
    _contracts(left)
    _contracts(right)
    (tmp_path / "l.json").write_text(json.dumps(left))
    (tmp_path / "r.json").write_text(json.dumps(right))
    theirs = CliRunner().invoke(protean_ir, ["diff", "-l", "l.json", "-r", "r.json", "-f", form])
    capsys.readouterr()
    code = run(["ir", "diff", "-l", "l.json", "-r", "r.json", "-f", form])
    ours = capsys.readouterr().out
    # Protean's rich console wraps a line longer than the terminal; archipel's does not
    assert (code, _unwrapped(ours)) == (theirs.exit_code, _unwrapped(theirs.stdout))


def _unwrapped(text: str) -> list[str]:
    """The lines of ``text`` with a line break inside a sentence (a wrap) undone."""
    return re.sub(r"(?<=\S) \n(?=\S)", " ", text).splitlines()


@pytest.mark.parametrize("example", range(len(EXAMPLES)))
def test_the_summary_is_protean_s(example, monkeypatch, capsys):
    from protean.cli.ir import _print_summary

    from archipel.cli.ir_render import print_summary

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    _print_summary(EXAMPLES[example])
    theirs = capsys.readouterr().out
    print_summary(EXAMPLES[example])
    assert capsys.readouterr().out == theirs
    assert "Element Counts" in theirs
