"""``docs generate`` and ``ir diff --format event-model`` against Protean 0.18 itself: for the
same IR documents, archipel's generators write Protean's text, byte for byte.

The documents are Protean's example IRs, as they are and mutated by hypothesis: consumers
rewired to other events (across clusters, process managers started and ended), fact events,
subscribers, projectors retargeted, fields of every kind, invariants and element names
holding Mermaid's delimiters and backticks, sections emptied, names dropped; plus the ``ir
diff`` oracle's mutations. Every ``--type`` in both formats, ``--cluster``, annotations
(matched, unmatched, multi-line, with backticks) and the event-model diff of two mutated
documents are compared.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

protean_docs = pytest.importorskip("protean.cli.docs", reason="Protean 0.18 is the oracle (pip install -e '.[bench]')")
import protean.ir  # noqa: E402
from protean.ir.diff import diff_ir as protean_diff_ir  # noqa: E402
from protean.ir.generators.event_model import generate_event_model_diff  # noqa: E402
from protean.ir.generators.llms import generate_llms_txt  # noqa: E402

from archipel.ir.diff import diff_ir  # noqa: E402
from archipel.ir.docs import render  # noqa: E402
from archipel.ir.docs_llms import llms_txt  # noqa: E402
from archipel.ir.event_model_diff import event_model_diff  # noqa: E402
from tests.unit.ir.test_diff_oracle import OPS as DIFF_OPS  # noqa: E402
from tests.unit.ir.test_diff_oracle import _contracts, _mutate  # noqa: E402

EXAMPLES = [json.loads(p.read_text()) for p in sorted(Path(protean.ir.EXAMPLES_DIR).glob("*.json"))]
TYPES = ["clusters", "events", "handlers", "catalog", "event-model", "all"]
ODD = ["(x)", '"q"', "#1", "`tick`", "a|b", "x y", "&", "\u2192", "```", "{z}", "<t>", ""]


def _pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)] if items else None


def _clusters(ir: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(ir.get("clusters", {}).items())


def _events(ir: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for _, c in _clusters(ir) for _, e in sorted(c.get("events", {}).items())]


def _consumers(ir: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(kind, element) of every event handler, process manager and projector."""
    found = [("eh", h) for _, c in _clusters(ir) for _, h in sorted(c.get("event_handlers", {}).items())]
    found += [("pm", p) for _, p in sorted(ir.get("flows", {}).get("process_managers", {}).items())]
    found += [("proj", p) for _, g in sorted(ir.get("projections", {}).items())
              for _, p in sorted(g.get("projectors", {}).items())]
    return found


def _rekey(section: dict[str, Any], old: str, new: str) -> None:
    """Rename a key in place, keeping the dict's order (the generators read some orders as given)."""
    items = [(new if k == old else k, v) for k, v in section.items()]
    section.clear()
    section.update(items)


def _docs_mutate(ir: dict[str, Any], op: str, i: int, j: int, flag: bool) -> None:  # noqa: C901, PLR0912
    events = _events(ir)
    if op == "route":
        consumer = _pick(_consumers(ir), i)
        event = _pick(events, j)
        if consumer and event and event.get("__type__"):
            kind, element = consumer
            entry: Any = {"start": flag, "end": j % 3 == 0, "methods": ["on"]} if kind == "pm" else ["on"]
            element.setdefault("handlers", {})[event["__type__"]] = entry
    elif op == "unroute":
        consumer = _pick(_consumers(ir), i)
        if consumer and consumer[1].get("handlers"):
            del consumer[1]["handlers"][_pick(sorted(consumer[1]["handlers"]), j)]
    elif op == "lifecycle":
        pm = _pick([e for k, e in _consumers(ir) if k == "pm"], i)
        if pm and pm.get("handlers"):
            info = pm["handlers"][_pick(sorted(pm["handlers"]), j)]
            info["start" if flag else "end"] = not info.get("start" if flag else "end")
    elif op == "fact":
        event = _pick(events, i)
        if event:
            event["is_fact_event"] = flag
    elif op == "untyped":
        event = _pick(events, i)
        if event:
            event["__type__"] = ""
    elif op == "subscriber":
        subs = ir.setdefault("flows", {}).setdefault("subscribers", {})
        subs[f"ext.Sub{j % 4}{_pick(ODD, i)}"] = {"stream": "" if flag else f"ext::s{i % 3}", "name": f"Sub{j % 4}"}
    elif op == "projector":
        groups = sorted(ir.get("projections", {}).items())
        group = _pick(groups, i)
        if group:
            target = _pick(groups, j)[0] if flag else ""
            group[1].setdefault("projectors", {})[f"rep.Proj{j % 3}"] = {
                "projector_for": target, "name": f"Proj{j % 3}", "handlers": {}}
    elif op == "field_kind":
        cluster = _pick([c for _, c in _clusters(ir)], i)
        if cluster:
            targets = sorted([*cluster.get("entities", {}), *cluster.get("value_objects", {}), *ir["clusters"]])
            kind = _pick(["has_many", "value_object", "value_object_list", "reference", "has_one", "list", "dict",
                          "auto", "standard"], j)
            field: dict[str, Any] = {"kind": kind, "target": _pick(targets, i + j) if flag else ""}
            if kind == "list":
                field = {"kind": "list", "content_type": "String" if flag else ""}
            if kind == "standard":
                field = {"kind": "standard", "type": "Integer", "max_value": j % 2, "min_value": 0.0 if flag else -1.5,
                         "max_length": j % 3, "min_length": None,
                         "choices": ["a", "b"] if flag else [], "unique": True, "required": flag}
            owner = _pick([cluster["aggregate"], *cluster.get("entities", {}).values(),
                           *cluster.get("events", {}).values(), *cluster.get("commands", {}).values()], i + j)
            owner.setdefault("fields", {})[f"f{_pick(ODD, i)}{j % 3}"] = field
    elif op == "invariant":
        cluster = _pick([c for _, c in _clusters(ir)], i)
        if cluster:
            invariants = cluster["aggregate"].setdefault("invariants", {"pre": [], "post": []})
            invariants.setdefault("pre" if flag else "post", []).append(f"rule {_pick(ODD, j)}")
    elif op == "odd_name":
        cluster = _pick([c for _, c in _clusters(ir)], i)
        section = _pick(["commands", "events", "event_handlers", "command_handlers", "entities", "value_objects"], j)
        if cluster and cluster.get(section):
            old = _pick(sorted(cluster[section]), i)
            _rekey(cluster[section], old, f"{old}{_pick(ODD, i + j)}")
    elif op == "odd_cluster":
        if ir.get("clusters"):
            old = _pick(sorted(ir["clusters"]), i)
            _rekey(ir["clusters"], old, f"{old}{_pick(ODD, j)}")
    elif op == "empty":
        cluster = _pick([c for _, c in _clusters(ir)], i)
        if cluster:
            cluster[_pick(["commands", "events", "command_handlers", "event_handlers", "entities"], j)] = {}
    elif op == "unnamed":
        cluster = _pick([c for _, c in _clusters(ir)], i)
        if cluster:
            cluster["aggregate"].pop("name", None)
        group = _pick([g for _, g in sorted(ir.get("projections", {}).items())], j)
        if group and flag:
            group["projection"].pop("name", None)
    elif op == "options":
        cluster = _pick([c for _, c in _clusters(ir)], i)
        if cluster:
            cluster["aggregate"].setdefault("options", {})["fact_events" if flag else "is_event_sourced"] = True
    elif op == "new_handler":
        cluster = _pick(_clusters(ir), i)
        event = _pick(events, j)
        if cluster:
            routes = {event["__type__"]: ["on"]} if event and event.get("__type__") and flag else {}
            cluster[1].setdefault("event_handlers", {})[f"{cluster[0]}Reactor{j % 2}"] = {"handlers": routes}
    elif op == "edges":
        element = _pick([c["aggregate"] for _, c in _clusters(ir)] + [e for _, e in _consumers(ir)], i)
        if element:
            element["method_edges"] = {f"m{j % 3}": {"raises": [f"x.E{j % 2}"]}} if flag else {}
    elif op == "reorder":
        ir["clusters"] = dict(reversed(list(ir.get("clusters", {}).items())))
        ir["projections"] = dict(reversed(list(ir.get("projections", {}).items())))


DOCS_OPS = ["route", "unroute", "lifecycle", "fact", "untyped", "subscriber", "projector", "field_kind", "invariant",
            "odd_name", "odd_cluster", "empty", "unnamed", "options", "new_handler", "edges", "reorder"]
mutation = st.one_of(
    st.tuples(st.sampled_from(DOCS_OPS), st.integers(0, 50), st.integers(0, 50), st.booleans()),
    st.tuples(st.sampled_from(DIFF_OPS), st.integers(0, 50), st.integers(0, 50), st.booleans()),
)


def _apply(ir: dict[str, Any], ops: list[tuple[str, int, int, bool]]) -> dict[str, Any]:
    for op in ops:
        (_docs_mutate if op[0] in DOCS_OPS else _mutate)(ir, *op)
    _contracts(ir)
    return ir


def _notes(ir: dict[str, Any], picks: list[tuple[int, int]]) -> dict[str, dict[str, Any]]:
    """Notes keyed by drawn and undrawn paths, multi-line, with owners and backticks."""
    keys = sorted([*ir.get("clusters", {}), *(p for _, c in _clusters(ir) for p in c.get("commands", {})),
                   *(p for _, c in _clusters(ir) for p in c.get("events", {})),
                   *(p for _, c in _clusters(ir) for p in c.get("event_handlers", {})),
                   "gone.Element", "odd`key`", "two\nlines", ""])
    notes: dict[str, dict[str, Any]] = {}
    for i, j in picks:
        entry: dict[str, Any] = {"note": ["Why it is so.", "line one\n\nline three", " padded "][j % 3]}
        if i % 2:
            entry["owner"] = ["team-a", "a\nb", ""][j % 3]
        notes[_pick(keys, i)] = entry
    return notes


def _theirs(ir: dict[str, Any], doc_type: str, fmt: str, cluster: str = "",
            notes: dict[str, dict[str, Any]] | None = None) -> str:
    text: str = protean_docs._generate_output(ir, doc_type=doc_type, output_format=fmt, cluster_fqn=cluster,
                                              annotations=notes or {})
    return text


def _formats(doc_type: str) -> list[str]:
    return ["markdown"] if doc_type == "catalog" else ["markdown", "mermaid"]


@pytest.mark.parametrize("example", range(len(EXAMPLES)))
@pytest.mark.parametrize("doc_type", TYPES)
def test_every_type_of_the_examples_is_protean_s(example, doc_type):
    for fmt in _formats(doc_type):
        theirs = _theirs(EXAMPLES[example], doc_type, fmt)
        assert render(EXAMPLES[example], doc_type, fmt) == theirs
        assert "mermaid" in theirs or doc_type == "catalog" or fmt == "mermaid"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(example=st.integers(0, len(EXAMPLES) - 1), ops=st.lists(mutation, max_size=8),
       doc_type=st.sampled_from(TYPES), cluster_pick=st.integers(0, 5),
       note_picks=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 5)), max_size=5))
def test_mutated_documents_render_as_protean_s(example, ops, doc_type, cluster_pick, note_picks):
    ir = _apply(copy.deepcopy(EXAMPLES[example]), ops)
    clusters = sorted(ir.get("clusters", {}))
    cluster = _pick([*clusters, "no.Such"], cluster_pick) if doc_type in ("clusters", "all") and cluster_pick else ""
    notes = _notes(ir, note_picks) if doc_type == "event-model" else {}
    for fmt in _formats(doc_type):
        assert render(ir, doc_type, fmt, cluster=cluster or "", notes=notes) == _theirs(ir, doc_type, fmt,
                                                                                         cluster or "", notes)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(example=st.integers(0, len(EXAMPLES) - 1), other=st.integers(0, len(EXAMPLES) - 1),
       left_ops=st.lists(mutation, max_size=4), right_ops=st.lists(mutation, min_size=1, max_size=6),
       swap=st.booleans())
def test_the_event_model_diff_is_protean_s(example, other, left_ops, right_ops, swap):
    left = _apply(copy.deepcopy(EXAMPLES[example]), left_ops)
    right = _apply(copy.deepcopy(left if example == other else EXAMPLES[other]), right_ops)
    if swap:
        left, right = right, left
    theirs = generate_event_model_diff(protean_diff_ir(left, right), left_ir=left, right_ir=right)
    assert event_model_diff(diff_ir(left, right), left_ir=left, right_ir=right) == theirs


@pytest.mark.parametrize("op", DOCS_OPS)
@pytest.mark.parametrize("example", range(len(EXAMPLES)))
def test_each_mutation_alone_diffs_and_renders_as_protean_s(example, op):
    """Each mutation alone on a small grid, so none is only as likely as hypothesis makes it."""
    for i in range(4):
        for j in range(4):
            for flag in (False, True):
                left = EXAMPLES[example]
                right = _apply(copy.deepcopy(left), [(op, i, j, flag)])
                for a, b in ((left, right), (right, left)):
                    theirs = generate_event_model_diff(protean_diff_ir(a, b), left_ir=a, right_ir=b)
                    assert event_model_diff(diff_ir(a, b), left_ir=a, right_ir=b) == theirs
                for doc_type in TYPES:
                    for fmt in _formats(doc_type):
                        assert render(right, doc_type, fmt) == _theirs(right, doc_type, fmt)


def test_the_event_model_diff_of_one_document_against_itself_is_no_change():
    ir = EXAMPLES[0]
    assert event_model_diff(diff_ir(ir, copy.deepcopy(ir)), ir, ir) == "No model changes."


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(example=st.integers(0, len(EXAMPLES) - 1), ops=st.lists(mutation, max_size=6), empty=st.booleans())
def test_the_llms_overlay_is_protean_s(example, ops, empty):
    """The project overlay is Protean's; the framework layer names archipel (and its guide)."""
    ir = {} if empty else _apply(copy.deepcopy(EXAMPLES[example]), ops)
    theirs = generate_llms_txt(ir, version="9.9")
    ours = llms_txt(ir, version="9.9")
    overlay = theirs.index("\n\n## Project")
    assert ours[ours.index("\n\n## Project"):] == theirs[overlay:]
    assert ours.startswith("# archipel 9.9\n\n> ") and "## Core documentation" in ours
    assert llms_txt(None, version="9.9") == ours[:ours.index("\n\n## Project")] + "\n"
    assert generate_llms_txt(None, version="9.9") == theirs[:overlay] + "\n"


@pytest.mark.parametrize("example", range(len(EXAMPLES)))
def test_the_document_s_order_orders_what_protean_orders_by_it(example):
    """Every cluster with an event handler, clusters and projections in reverse order: Protean
    reads some of them in the document's order (the event handlers of the combined event flow,
    the projections), others sorted."""
    ir = copy.deepcopy(EXAMPLES[example])
    for path, cluster in _clusters(ir):
        routes = {e["__type__"]: ["on"] for e in cluster.get("events", {}).values()}
        cluster.setdefault("event_handlers", {})[path + "Reactor"] = {"handlers": routes}
    ir["clusters"] = dict(reversed(list(ir["clusters"].items())))
    ir["projections"] = dict(reversed(list(ir["projections"].items())))
    for doc_type in TYPES:
        for fmt in _formats(doc_type):
            assert render(ir, doc_type, fmt) == _theirs(ir, doc_type, fmt)


def _renamed(ir: dict[str, Any], suffix: str) -> dict[str, Any]:
    """Every element of ``ir`` renamed with ``suffix`` (keys and the paths that point at them)."""
    text = json.dumps(ir)
    paths = {p for _, c in _clusters(ir) for section in c.values() if isinstance(section, dict)
             for p in section if "." in p}
    paths |= set(ir.get("clusters", {})) | set(ir.get("projections", {}))
    paths |= {p for group in ir.get("projections", {}).values() for p in group.get("projectors", {})}
    paths |= set(ir.get("flows", {}).get("process_managers", {}))
    for path in sorted(paths, key=len, reverse=True):
        text = text.replace(json.dumps(path), json.dumps(path + suffix))
    renamed: dict[str, Any] = json.loads(text)
    for _, cluster in _clusters(renamed):  # field names and invariants too
        cluster["aggregate"]["fields"]["f" + suffix] = {"kind": "standard", "type": "String"}
        cluster["aggregate"].setdefault("invariants", {}).setdefault("pre", []).append("rule" + suffix)
    renamed.setdefault("flows", {}).setdefault("subscribers", {})["ext.Sub" + suffix] = {"stream": "s" + suffix}
    return renamed


@pytest.mark.parametrize("suffix", ODD)
@pytest.mark.parametrize("example", range(len(EXAMPLES)))
def test_names_holding_mermaid_delimiters_are_quoted_as_protean_quotes_them(example, suffix):
    ir = _renamed(EXAMPLES[example], suffix)
    for doc_type in TYPES:
        for fmt in _formats(doc_type):
            assert render(ir, doc_type, fmt) == _theirs(ir, doc_type, fmt)


@pytest.mark.parametrize(("doc_type", "fmt", "message"), [
    ("diagrams", "markdown", "invalid --type: 'diagrams'. Choose from: clusters, events, handlers, catalog, "
                             "event-model, all"),
    ("events", "svg", "invalid --format: 'svg'. Choose from: markdown, mermaid"),
])
def test_an_unknown_type_or_format_is_an_error_naming_the_allowed_ones(doc_type, fmt, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        render(EXAMPLES[0], doc_type, fmt)
